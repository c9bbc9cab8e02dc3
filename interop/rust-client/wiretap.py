#!/usr/bin/env python3
"""A logging TCP relay for RocketMQ remoting frames (diagnostics for run.sh, INTEROP_WIRETAP=1).

    wiretap.py LISTEN=UPSTREAM [LISTEN=UPSTREAM ...] --log FILE

Relays every connection on each LISTEN address (host:port) to its UPSTREAM, byte for byte,
and decodes the frames in both directions (JSON or ROCKETMQ binary headers) to pair each
request with its response by opaque. FILE gets one line per request (code, oneway flag,
response code, remark, a few extFields) and, when the relay gets SIGTERM/SIGINT, a table
of request code -> response codes and the tags of the messages the broker returned to each
consumer group's pulls (the client re-filters by tag, so this is where broker-side tag
filtering shows). Frames are never changed.
"""
import asyncio
import collections
import json
import re
import signal
import struct
import sys
import time

# Request codes (RequestCode.java) and response codes (ResponseCode.java) worth naming.
REQ = {10: "SEND_MESSAGE", 11: "PULL_MESSAGE", 12: "QUERY_MESSAGE", 14: "QUERY_CONSUMER_OFFSET",
       15: "UPDATE_CONSUMER_OFFSET", 17: "UPDATE_AND_CREATE_TOPIC", 21: "GET_ALL_TOPIC_CONFIG",
       26: "GET_BROKER_CONFIG", 29: "SEARCH_OFFSET_BY_TIMESTAMP", 30: "GET_MAX_OFFSET",
       31: "GET_MIN_OFFSET", 32: "GET_EARLIEST_MSG_STORETIME", 33: "VIEW_MESSAGE_BY_ID",
       34: "HEART_BEAT", 35: "UNREGISTER_CLIENT", 36: "CONSUMER_SEND_MSG_BACK", 37: "END_TRANSACTION",
       38: "GET_CONSUMER_LIST_BY_GROUP", 39: "CHECK_TRANSACTION_STATE", 40: "NOTIFY_CONSUMER_IDS_CHANGED",
       41: "LOCK_BATCH_MQ", 42: "UNLOCK_BATCH_MQ", 46: "CHECK_CLIENT_CONFIG", 100: "PUT_KV_CONFIG",
       101: "GET_KV_CONFIG", 102: "DELETE_KV_CONFIG", 103: "REGISTER_BROKER", 104: "UNREGISTER_BROKER",
       105: "GET_ROUTEINFO_BY_TOPIC", 106: "GET_BROKER_CLUSTER_INFO", 200: "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP",
       206: "GET_ALL_TOPIC_LIST_FROM_NAMESERVER", 219: "GET_KVLIST_BY_NAMESPACE",
       220: "RESET_CONSUMER_CLIENT_OFFSET", 221: "GET_CONSUMER_STATUS_FROM_CLIENT", 224: "GET_TOPICS_BY_CLUSTER",
       307: "GET_CONSUMER_RUNNING_INFO", 309: "CONSUME_MESSAGE_DIRECTLY", 310: "SEND_MESSAGE_V2",
       320: "SEND_BATCH_MESSAGE", 322: "QUERY_DATA_VERSION", 324: "SEND_REPLY_MESSAGE",
       325: "SEND_REPLY_MESSAGE_V2", 326: "PUSH_REPLY_MESSAGE_TO_CLIENT", 361: "LITE_PULL_MESSAGE",
       400: "QUERY_ASSIGNMENT", 401: "SET_MESSAGE_REQUEST_MODE", 904: "BROKER_HEARTBEAT",
       200050: "POP_MESSAGE", 200051: "ACK_MESSAGE"}
RESP = {0: "SUCCESS", 1: "SYSTEM_ERROR", 2: "SYSTEM_BUSY", 3: "REQUEST_CODE_NOT_SUPPORTED",
        13: "MESSAGE_ILLEGAL", 14: "SERVICE_NOT_AVAILABLE", 15: "VERSION_NOT_SUPPORTED",
        16: "NO_PERMISSION", 17: "TOPIC_NOT_EXIST", 19: "PULL_NOT_FOUND", 20: "PULL_RETRY_IMMEDIATELY",
        21: "PULL_OFFSET_MOVED", 22: "QUERY_NOT_FOUND", 23: "SUBSCRIPTION_PARSE_FAILED",
        24: "SUBSCRIPTION_NOT_EXIST", 25: "SUBSCRIPTION_NOT_LATEST", 26: "SUBSCRIPTION_GROUP_NOT_EXIST",
        29: "INVALID_PARAMETER", 206: "CONSUMER_NOT_ONLINE", 208: "NO_MESSAGE", 215: "FLOW_CONTROL"}
KEEP = ("topic", "consumerGroup", "group", "queueId", "queueOffset", "commitOffset", "maxMsgNums",
        "subscription", "expressionType", "subVersion", "sysFlag", "suspendTimeoutMillis",
        "producerGroup", "offset", "clientId", "key", "a", "b", "e", "g", "h", "j", "m", "n")


def name(table, code):
    return f"{code}:{table.get(code, '?')}"


TAGS = re.compile(rb"TAGS\x01([^\x02]*)\x02")


def decode(frame):
    """(code, flag, opaque, remark, ext, body) of one frame without its length prefix."""
    (hdr,) = struct.unpack(">I", frame[:4])
    kind, hlen = hdr >> 24, hdr & 0xFFFFFF
    header = frame[4:4 + hlen]
    body = frame[4 + hlen:]
    if kind == 0:
        h = json.loads(header.decode("utf-8", "replace"))
        return h.get("code"), h.get("flag", 0), h.get("opaque"), h.get("remark"), h.get("extFields") or {}, body
    code, _lang, _ver, opaque, flag = struct.unpack(">hbhii", header[:13])
    pos = 13
    (rlen,) = struct.unpack(">i", header[pos:pos + 4]); pos += 4
    remark = header[pos:pos + rlen].decode("utf-8", "replace") if rlen > 0 else None; pos += max(rlen, 0)
    (elen,) = struct.unpack(">i", header[pos:pos + 4]); pos += 4
    ext, end = {}, pos + elen
    while pos < end:
        (kl,) = struct.unpack(">h", header[pos:pos + 2]); pos += 2
        k = header[pos:pos + kl].decode("utf-8", "replace"); pos += kl
        (vl,) = struct.unpack(">i", header[pos:pos + 4]); pos += 4
        ext[k] = header[pos:pos + vl].decode("utf-8", "replace"); pos += vl
    return code, flag, opaque, remark, ext, body


class Tap:
    def __init__(self, log):
        self.log = log
        self.pending = {}
        self.table = collections.defaultdict(collections.Counter)
        # Tags of the messages in PULL / LITE_PULL bodies, per consumer group.
        self.pulled = collections.defaultdict(collections.Counter)
        self.conn = 0

    def write(self, line):
        self.log.write(f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {line}\n")
        self.log.flush()

    def frame(self, cid, direction, frame):
        try:
            code, flag, opaque, remark, ext, body = decode(frame)
        except Exception as e:  # a frame we cannot read is reported, never altered
            self.write(f"c{cid} {direction} undecodable frame ({len(frame)} bytes): {e}")
            return
        if flag & 1 == 0:  # a request (either direction)
            kept = {k: ext[k] for k in KEEP if k in ext}
            if flag & 2:
                self.table[name(REQ, code)]["oneway"] += 1
                if code not in (10, 310, 320):
                    self.write(f"c{cid} {direction} {name(REQ, code)} oneway {kept}")
                return
            self.pending[(cid, direction, opaque)] = (code, kept, time.time())
        else:
            back = "<-" if direction == "->" else "->"
            code_req, kept, t0 = self.pending.pop((cid, back, opaque), (None, {}, time.time()))
            self.table[name(REQ, code_req)][name(RESP, code)] += 1
            if code_req in (11, 361) and code == 0:
                group = kept.get("consumerGroup", "?")
                for tag in TAGS.findall(body):
                    self.pulled[group][tag.decode("utf-8", "replace")] += 1
            # Sends and successful pulls are too many to list one by one.
            if code_req in (10, 310, 320) and code == 0:
                return
            if code_req in (11, 361) and code in (0, 19):
                return
            ms = (time.time() - t0) * 1000
            self.write(f"c{cid} {back} {name(REQ, code_req)} {kept} => {name(RESP, code)}"
                       f"{' remark=' + repr(remark) if remark else ''} ({ms:.0f} ms)")

    def summary(self):
        self.write("---- request code -> response codes ----")
        for req in sorted(self.table, key=lambda k: int(k.split(":")[0]) if k[0].isdigit() else -1):
            self.write(f"{req:36} {dict(self.table[req])}")
        self.write("---- tags of the messages in pull responses, per consumer group ----")
        for group in sorted(self.pulled):
            self.write(f"{group:36} {dict(self.pulled[group])}")


async def pump(tap, cid, direction, reader, writer):
    buf = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            buf += data
            while len(buf) >= 4:
                (n,) = struct.unpack(">I", buf[:4])
                if len(buf) < 4 + n:
                    break
                tap.frame(cid, direction, buf[4:4 + n])
                buf = buf[4 + n:]
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    args = sys.argv[1:]
    log_path = args[args.index("--log") + 1]
    routes = [a.split("=") for a in args if "=" in a]
    tap = Tap(open(log_path, "a"))
    servers = []
    for listen, upstream in routes:
        lh, lp = listen.rsplit(":", 1)
        uh, up = upstream.rsplit(":", 1)

        async def handle(reader, writer, uh=uh, up=up, label=listen):
            tap.conn += 1
            cid = tap.conn
            tap.write(f"c{cid} connection to {label} from {writer.get_extra_info('peername')}")
            try:
                ur, uw = await asyncio.open_connection(uh, int(up))
            except OSError as e:
                tap.write(f"c{cid} upstream {uh}:{up} refused: {e}")
                writer.close()
                return
            await asyncio.gather(pump(tap, cid, "->", reader, uw), pump(tap, cid, "<-", ur, writer))

        servers.append(await asyncio.start_server(handle, lh, int(lp)))
    print("wiretap ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    tap.summary()


if __name__ == "__main__":
    asyncio.run(main())
