#!/usr/bin/env python3
"""A logging TCP relay for RocketMQ remoting frames: interop/go/run.sh always runs it,
interop/rust-client/run.sh with INTEROP_WIRETAP=1.

    wiretap.py [LABEL,]LISTEN=UPSTREAM [[LABEL,]LISTEN=UPSTREAM ...] --log FILE
               [--summary JSON] [--pulled FILE]

It keeps a label per relayed address
(e.g. `namesrv,127.0.0.1:1234=127.0.0.1:9876`), the request codes the Go client sends
(201, 215, 216, ...) named, requests in each direction kept apart (client -> server, and
server -> client such as GET_CONSUMER_RUNNING_INFO), the first remark of every
(request code, response code) pair, requests left unanswered, and a machine-readable
summary (--summary, written on SIGTERM/SIGINT) that run.sh prints and checks, and, with
--pulled, one line "group<TAB>topic<TAB>tag" per message in a successful pull response,
written as it passes (TestTagFilter reads it to see what the broker itself filtered).

Relays every connection on each LISTEN address (host:port) to its UPSTREAM, byte for byte,
and decodes the frames in both directions (JSON or ROCKETMQ binary headers) to pair each
request with its response by opaque. FILE gets one line per request that is not a
successful send or pull (code, oneway flag, response code, remark, a few extFields) and,
when the relay gets SIGTERM/SIGINT, a table of request code -> response codes and the tags
of the messages the broker returned to each consumer group's pulls (the client re-filters
by tag, so this is where broker-side tag filtering shows). Frames are never changed.
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
       26: "GET_BROKER_CONFIG", 28: "GET_BROKER_RUNTIME_INFO", 29: "SEARCH_OFFSET_BY_TIMESTAMP",
       30: "GET_MAX_OFFSET", 31: "GET_MIN_OFFSET", 32: "GET_EARLIEST_MSG_STORETIME",
       33: "VIEW_MESSAGE_BY_ID", 34: "HEART_BEAT", 35: "UNREGISTER_CLIENT",
       36: "CONSUMER_SEND_MSG_BACK", 37: "END_TRANSACTION", 38: "GET_CONSUMER_LIST_BY_GROUP",
       39: "CHECK_TRANSACTION_STATE", 40: "NOTIFY_CONSUMER_IDS_CHANGED", 41: "LOCK_BATCH_MQ",
       42: "UNLOCK_BATCH_MQ", 46: "CHECK_CLIENT_CONFIG", 100: "PUT_KV_CONFIG", 101: "GET_KV_CONFIG",
       102: "DELETE_KV_CONFIG", 103: "REGISTER_BROKER", 104: "UNREGISTER_BROKER",
       105: "GET_ROUTEINFO_BY_TOPIC", 106: "GET_BROKER_CLUSTER_INFO",
       200: "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP", 201: "GET_ALL_SUBSCRIPTIONGROUP_CONFIG",
       206: "GET_ALL_TOPIC_LIST_FROM_NAMESERVER", 207: "DELETE_SUBSCRIPTIONGROUP",
       215: "DELETE_TOPIC_IN_BROKER", 216: "DELETE_TOPIC_IN_NAMESRV", 219: "GET_KVLIST_BY_NAMESPACE",
       220: "RESET_CONSUMER_CLIENT_OFFSET", 221: "GET_CONSUMER_STATUS_FROM_CLIENT",
       222: "INVOKE_BROKER_TO_RESET_OFFSET", 223: "INVOKE_BROKER_TO_GET_CONSUMER_STATUS",
       224: "GET_TOPICS_BY_CLUSTER", 307: "GET_CONSUMER_RUNNING_INFO", 309: "CONSUME_MESSAGE_DIRECTLY",
       310: "SEND_MESSAGE_V2", 320: "SEND_BATCH_MESSAGE", 322: "QUERY_DATA_VERSION",
       324: "SEND_REPLY_MESSAGE", 325: "SEND_REPLY_MESSAGE_V2", 326: "PUSH_REPLY_MESSAGE_TO_CLIENT",
       361: "LITE_PULL_MESSAGE", 400: "QUERY_ASSIGNMENT", 401: "SET_MESSAGE_REQUEST_MODE",
       904: "BROKER_HEARTBEAT", 200050: "POP_MESSAGE", 200051: "ACK_MESSAGE",
       # not request codes: what the relay saw instead of a request/response pair
       -1: "(undecodable frame)", -2: "(response to no request seen)", -3: "(upstream refused the connection)"}
RESP = {0: "SUCCESS", 1: "SYSTEM_ERROR", 2: "SYSTEM_BUSY", 3: "REQUEST_CODE_NOT_SUPPORTED",
        4: "TRANSACTION_FAILED", 10: "FLUSH_DISK_TIMEOUT", 11: "SLAVE_NOT_AVAILABLE",
        12: "FLUSH_SLAVE_TIMEOUT", 13: "MESSAGE_ILLEGAL", 14: "SERVICE_NOT_AVAILABLE",
        15: "VERSION_NOT_SUPPORTED", 16: "NO_PERMISSION", 17: "TOPIC_NOT_EXIST",
        18: "TOPIC_EXIST_ALREADY", 19: "PULL_NOT_FOUND", 20: "PULL_RETRY_IMMEDIATELY",
        21: "PULL_OFFSET_MOVED", 22: "QUERY_NOT_FOUND", 23: "SUBSCRIPTION_PARSE_FAILED",
        24: "SUBSCRIPTION_NOT_EXIST", 25: "SUBSCRIPTION_NOT_LATEST", 26: "SUBSCRIPTION_GROUP_NOT_EXIST",
        27: "FILTER_DATA_NOT_EXIST", 28: "FILTER_DATA_NOT_LATEST", 29: "INVALID_PARAMETER",
        206: "CONSUMER_NOT_ONLINE", 207: "CONSUME_MSG_TIMEOUT", 208: "NO_MESSAGE", 215: "FLOW_CONTROL"}
KEEP = ("topic", "consumerGroup", "group", "queueId", "queueOffset", "commitOffset", "maxMsgNums",
        "subscription", "expressionType", "subVersion", "sysFlag", "suspendTimeoutMillis",
        "producerGroup", "offset", "delayLevel", "originTopic", "clientId", "key",
        "a", "b", "e", "g", "h", "j", "m", "n")


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
    def __init__(self, log, pulled_log=None):
        self.log = log
        self.pulled_log = pulled_log
        # (label, dir, request code) -> Counter of response codes ("oneway" for oneway requests)
        self.pending = {}
        self.table = collections.defaultdict(collections.Counter)
        # (label, dir, request code, response code) -> first remark and how many differed
        self.remarks = {}
        # Tags of the messages in PULL / LITE_PULL bodies, per consumer group.
        self.pulled = collections.defaultdict(collections.Counter)
        self.conn = 0
        self.labels = {}

    def write(self, line):
        self.log.write(f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {line}\n")
        self.log.flush()

    def frame(self, cid, direction, frame):
        label = self.labels.get(cid, "?")
        try:
            code, flag, opaque, remark, ext, body = decode(frame)
        except Exception as e:  # a frame we cannot read is reported, never altered
            self.write(f"c{cid} {direction} undecodable frame ({len(frame)} bytes): {e}")
            self.table[(label, direction, -1)]["undecodable"] += 1
            return
        if flag & 1 == 0:  # a request (either direction)
            kept = {k: ext[k] for k in KEEP if k in ext}
            if flag & 2:
                self.table[(label, direction, code)]["oneway"] += 1
                if code not in (10, 310, 320):
                    self.write(f"c{cid} {direction} {name(REQ, code)} oneway {kept}")
                return
            self.pending[(cid, direction, opaque)] = (code, kept, time.time())
        else:
            back = "<-" if direction == "->" else "->"
            code_req, kept, t0 = self.pending.pop((cid, back, opaque), (None, {}, time.time()))
            key = (label, back, code_req if code_req is not None else -2)
            self.table[key][code] += 1
            if code != 0 and remark:
                rk = key + (code,)
                if rk not in self.remarks:
                    self.remarks[rk] = [remark, 0]
                elif self.remarks[rk][0] != remark:
                    self.remarks[rk][1] += 1
            if code_req in (11, 361) and code == 0:
                group = kept.get("consumerGroup", "?")
                tags = [tag.decode("utf-8", "replace") for tag in TAGS.findall(body)]
                for tag in tags:
                    self.pulled[group][tag] += 1
                if self.pulled_log and tags:
                    for tag in tags:
                        self.pulled_log.write(f"{group}\t{kept.get('topic', '?')}\t{tag}\n")
                    self.pulled_log.flush()
            # Sends and successful pulls are too many to list one by one.
            if code_req in (10, 310, 320) and code == 0:
                return
            if code_req in (11, 361) and code in (0, 19):
                return
            ms = (time.time() - t0) * 1000
            self.write(f"c{cid} {back} {name(REQ, code_req)} {kept} => {name(RESP, code)}"
                       f"{' remark=' + repr(remark) if remark else ''} ({ms:.0f} ms)")

    def closed(self, cid):
        """A connection ended: its requests still waiting are counted as unanswered."""
        label = self.labels.get(cid, "?")
        for key in [k for k in self.pending if k[0] == cid]:
            code_req, kept, _ = self.pending.pop(key)
            self.table[(label, key[1], code_req)]["unanswered"] += 1
            self.write(f"c{cid} {key[1]} {name(REQ, code_req)} {kept} unanswered when the connection closed")

    def summary(self, path):
        for cid in list(self.labels):
            self.closed(cid)
        rows = []
        for (label, direction, code), counts in sorted(
                self.table.items(), key=lambda kv: (kv[0][1] != "->", kv[0][0], kv[0][2])):
            responses = {}
            for resp, n in counts.items():
                responses[name(RESP, resp) if isinstance(resp, int) else resp] = n
            remarks = {}
            for (l2, d2, c2, rc), (remark, other) in self.remarks.items():
                if (l2, d2, c2) == (label, direction, code):
                    remarks[name(RESP, rc)] = remark + (f" (+{other} other remarks)" if other else "")
            rows.append({"peer": label, "direction": "client->server" if direction == "->" else "server->client",
                         "code": code, "request": name(REQ, code), "responses": responses, "remarks": remarks})
        self.write("---- request code -> response codes ----")
        for r in rows:
            self.write(f"{r['peer']:8} {r['direction']:15} {r['request']:40} {r['responses']}"
                       f"{' ' + str(r['remarks']) if r['remarks'] else ''}")
        self.write("---- tags of the messages in pull responses, per consumer group ----")
        for group in sorted(self.pulled):
            self.write(f"{group:48} {dict(self.pulled[group])}")
        if path:
            with open(path, "w") as f:
                json.dump({"requests": rows, "pulledTags": {g: dict(c) for g, c in self.pulled.items()}},
                          f, indent=1)


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
    summary_path = args[args.index("--summary") + 1] if "--summary" in args else None
    routes = []
    for a in args:
        if "=" not in a:
            continue
        label, _, route = a.rpartition(",")
        listen, upstream = route.split("=")
        routes.append((label or listen, listen, upstream))
    pulled_path = args[args.index("--pulled") + 1] if "--pulled" in args else None
    tap = Tap(open(log_path, "a"), open(pulled_path, "a") if pulled_path else None)
    servers = []
    for label, listen, upstream in routes:
        lh, lp = listen.rsplit(":", 1)
        uh, up = upstream.rsplit(":", 1)

        async def handle(reader, writer, uh=uh, up=up, label=label):
            tap.conn += 1
            cid = tap.conn
            tap.labels[cid] = label
            tap.write(f"c{cid} connection to {label} from {writer.get_extra_info('peername')}")
            try:
                ur, uw = await asyncio.open_connection(uh, int(up))
            except OSError as e:
                tap.write(f"c{cid} upstream {uh}:{up} refused: {e}")
                tap.table[(label, "->", -3)]["connect refused"] += 1
                writer.close()
                return
            await asyncio.gather(pump(tap, cid, "->", reader, uw), pump(tap, cid, "<-", ur, writer))
            tap.closed(cid)
            tap.write(f"c{cid} closed")

        servers.append(await asyncio.start_server(handle, lh, int(lp)))
    print("wiretap ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    tap.summary(summary_path)


if __name__ == "__main__":
    asyncio.run(main())
