#!/usr/bin/env python3
"""The mqadmin interop scenarios: the official Apache RocketMQ admin CLI (MQAdminStartup from
rocketmq-tools, unchanged) run as subprocesses against a running cluster, its output parsed
and checked. Python 3 standard library only. run.sh starts the broker and calls this once per
profile (rocketmq-4: tools 4.9.8, rocketmq-5: tools 5.5.0):

    check.py --tag v4 --version 4.9.8 --classpath target/v4/classpath.txt \\
             --classes target/v4/classes --home target/v4/home \\
             --namesrv 127.0.0.1:PORT --broker-addr 127.0.0.2:PORT [--tap-log wiretap.log] \\
             [--only 'topicStatus,clusterList'] [--results target/v4/results.json]

Each scenario is one function below, independent of the others (its own topics and groups,
named mqit_<tag>_<scenario>_<kind>_<random>); the two that change cluster-wide state
(updateBrokerConfig, wipeWritePerm) put it back in a `finally`. A scenario passes when its
assertions hold AND no request of its commands was answered REQUEST_CODE_NOT_SUPPORTED.

What a command's request codes got is read from the wiretap log (--tap-log: the lines of the
connections the command opened while it ran) and from the exceptions mqadmin prints
("CODE: 3  DESC: request type 202 not supported"). MQAdminStartup prints a failed command's
exception and returns normally, so the exit status says nothing: output decides. A failure
prints the command line, its exit status, every non-SUCCESS answer its requests got (by
request code), and the tail of its stdout and stderr.
"""
import argparse
import json
import os
import random
import re
import socket
import string
import struct
import subprocess
import sys
import threading
import time
import traceback

# RequestCode.java (4.9.8 and 5.x) names for the codes mqadmin and its clients send.
REQ = {
    10: "SEND_MESSAGE", 11: "PULL_MESSAGE", 12: "QUERY_MESSAGE", 13: "QUERY_BROKER_OFFSET",
    14: "QUERY_CONSUMER_OFFSET", 15: "UPDATE_CONSUMER_OFFSET", 17: "UPDATE_AND_CREATE_TOPIC",
    21: "GET_ALL_TOPIC_CONFIG", 22: "GET_TOPIC_CONFIG_LIST", 23: "GET_TOPIC_NAME_LIST",
    25: "UPDATE_BROKER_CONFIG", 26: "GET_BROKER_CONFIG", 27: "TRIGGER_DELETE_FILES",
    28: "GET_BROKER_RUNTIME_INFO", 29: "SEARCH_OFFSET_BY_TIMESTAMP", 30: "GET_MAX_OFFSET",
    31: "GET_MIN_OFFSET", 32: "GET_EARLIEST_MSG_STORETIME", 33: "VIEW_MESSAGE_BY_ID",
    34: "HEART_BEAT", 35: "UNREGISTER_CLIENT", 36: "CONSUMER_SEND_MSG_BACK",
    37: "END_TRANSACTION", 38: "GET_CONSUMER_LIST_BY_GROUP", 39: "CHECK_TRANSACTION_STATE",
    40: "NOTIFY_CONSUMER_IDS_CHANGED", 41: "LOCK_BATCH_MQ", 42: "UNLOCK_BATCH_MQ",
    43: "GET_ALL_CONSUMER_OFFSET", 45: "GET_ALL_DELAY_OFFSET", 46: "CHECK_CLIENT_CONFIG",
    100: "PUT_KV_CONFIG", 101: "GET_KV_CONFIG", 102: "DELETE_KV_CONFIG",
    103: "REGISTER_BROKER", 104: "UNREGISTER_BROKER", 105: "GET_ROUTEINFO_BY_TOPIC",
    106: "GET_BROKER_CLUSTER_INFO", 200: "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP",
    201: "GET_ALL_SUBSCRIPTIONGROUP_CONFIG", 202: "GET_TOPIC_STATS_INFO",
    203: "GET_CONSUMER_CONNECTION_LIST", 204: "GET_PRODUCER_CONNECTION_LIST",
    205: "WIPE_WRITE_PERM_OF_BROKER", 206: "GET_ALL_TOPIC_LIST_FROM_NAMESERVER",
    207: "DELETE_SUBSCRIPTIONGROUP", 208: "GET_CONSUME_STATS", 209: "SUSPEND_CONSUMER",
    210: "RESUME_CONSUMER", 211: "RESET_CONSUMER_OFFSET_IN_CONSUMER",
    212: "RESET_CONSUMER_OFFSET_IN_BROKER", 213: "ADJUST_CONSUMER_THREAD_POOL",
    214: "WHO_CONSUME_THE_MESSAGE", 215: "DELETE_TOPIC_IN_BROKER", 216: "DELETE_TOPIC_IN_NAMESRV",
    217: "REGISTER_TOPIC_IN_NAMESRV", 219: "GET_KVLIST_BY_NAMESPACE",
    220: "RESET_CONSUMER_CLIENT_OFFSET", 221: "GET_CONSUMER_STATUS_FROM_CLIENT",
    222: "INVOKE_BROKER_TO_RESET_OFFSET", 223: "INVOKE_BROKER_TO_GET_CONSUMER_STATUS",
    224: "GET_TOPICS_BY_CLUSTER", 300: "QUERY_TOPIC_CONSUME_BY_WHO",
    301: "GET_TOPICS_BY_CLUSTER(old)", 303: "QUERY_CONSUME_TIME_SPAN",
    304: "GET_SYSTEM_TOPIC_LIST_FROM_NS", 305: "GET_SYSTEM_TOPIC_LIST_FROM_BROKER",
    306: "CLEAN_EXPIRED_CONSUMEQUEUE", 307: "GET_CONSUMER_RUNNING_INFO",
    308: "QUERY_CORRECTION_OFFSET", 309: "CONSUME_MESSAGE_DIRECTLY", 310: "SEND_MESSAGE_V2",
    311: "GET_UNIT_TOPIC_LIST", 315: "GET_ALL_PRODUCER_INFO", 317: "UPDATE_NAMESRV_CONFIG",
    318: "GET_NAMESRV_CONFIG", 320: "SEND_BATCH_MESSAGE", 321: "QUERY_CONSUME_QUEUE",
    322: "QUERY_DATA_VERSION", 323: "RESUME_CHECK_HALF_MESSAGE", 327: "ADD_WRITE_PERM_OF_BROKER",
    351: "GET_TOPIC_CONFIG", 352: "GET_SUBSCRIPTIONGROUP_CONFIG", 361: "LITE_PULL_MESSAGE",
    904: "BROKER_HEARTBEAT",
}
RESP = {0: "SUCCESS", 1: "SYSTEM_ERROR", 2: "SYSTEM_BUSY", 3: "REQUEST_CODE_NOT_SUPPORTED",
        14: "SERVICE_NOT_AVAILABLE", 16: "NO_PERMISSION", 17: "TOPIC_NOT_EXIST",
        19: "PULL_NOT_FOUND", 22: "QUERY_NOT_FOUND", 24: "SUBSCRIPTION_NOT_EXIST",
        26: "SUBSCRIPTION_GROUP_NOT_EXIST", 29: "INVALID_PARAMETER", 206: "CONSUMER_NOT_ONLINE",
        208: "NO_MESSAGE"}
NOT_SUPPORTED = 3


def req_name(code):
    return f"{code} {REQ.get(code, '?')}"


class Fail(Exception):
    """An assertion that did not hold; `run` is the command whose output it was about."""

    def __init__(self, msg, run=None):
        super().__init__(msg)
        self.run = run


# ---------------------------------------------------------------------------- one command

EXC_LINE = re.compile(r"^(?:Caused by: )?((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error))(?::\s*(.*))?$")
CODE_DESC = re.compile(r"CODE:\s*(-?\d+)\s+DESC:\s*(.*?)(?:\s*For more information.*)?$")
NOT_SUPPORTED_REMARK = re.compile(r"request type (\d+) not supported")
TAP_CONN = re.compile(r"^\S+ c(\d+) connection to (\S+) from")
TAP_ANSWER = re.compile(r"^\S+ c(\d+) (->|<-) (-?\d+):\S+ (\{.*?\}) => (-?\d+):(\S+)(?: remark=(.*?))? \(\d+ ms\)$")
TAP_UNANSWERED = re.compile(r"^\S+ c(\d+) (->|<-) (-?\d+):\S+ (\{.*?\}) unanswered")


class Run:
    """What one mqadmin (or helper) command did."""

    def __init__(self, argv, shown):
        self.argv = argv
        self.shown = shown  # the command line as a person would type it
        self.rc = None
        self.out = ""
        self.err = ""
        self.secs = 0.0
        self.answers = []  # (request code, response code, remark, peer) from the wiretap
        self.timed_out = False

    @property
    def lines(self):
        return self.out.splitlines()

    def exceptions(self):
        """The exception headlines mqadmin printed (stack traces go to stderr)."""
        found = []
        for line in (self.err + "\n" + self.out).splitlines():
            m = EXC_LINE.match(line.strip())
            if m:
                found.append(line.strip())
        return found

    def codes_in_exceptions(self):
        """(response code, description) pairs of the MQBrokerException/MQClientException texts."""
        found = []
        for line in (self.err + "\n" + self.out).splitlines():
            m = CODE_DESC.search(line)
            if m:
                found.append((int(m.group(1)), m.group(2).strip()))
        return found

    def refused_codes(self):
        """Request codes answered REQUEST_CODE_NOT_SUPPORTED, from the wiretap or the remarks."""
        codes = {req for req, resp, _remark, _peer in self.answers if resp == NOT_SUPPORTED}
        for code, desc in self.codes_in_exceptions():
            m = NOT_SUPPORTED_REMARK.search(desc)
            if code == NOT_SUPPORTED and m:
                codes.add(int(m.group(1)))
        for m in NOT_SUPPORTED_REMARK.finditer(self.err + self.out):
            codes.add(int(m.group(1)))
        return sorted(codes)

    def not_success(self):
        """Every non-SUCCESS answer seen on the wire, one string each."""
        seen = []
        for req, resp, remark, peer in self.answers:
            if resp != 0:
                text = f"{req_name(req)} -> {resp} {RESP.get(resp, '?')} ({peer})"
                if remark:
                    text += f" remark={remark[:160]}"
                if text not in seen:
                    seen.append(text)
        return seen

    def report(self, tail=15):
        out = [f"    $ {self.shown}",
               f"    exit status {self.rc}{' (timed out, killed)' if self.timed_out else ''}, {self.secs:.1f} s"]
        refused = self.refused_codes()
        if refused:
            out.append("    REQUEST_CODE_NOT_SUPPORTED for: " + ", ".join(req_name(c) for c in refused))
        for a in self.not_success():
            out.append(f"    answer: {a}")
        for name, text in (("stdout", self.out), ("stderr", self.err)):
            lines = [ln for ln in text.splitlines() if ln.strip()]
            if not lines:
                out.append(f"    {name}: (empty)")
                continue
            out.append(f"    {name} (last {min(tail, len(lines))} of {len(lines)} lines):")
            out.extend("      | " + ln[:300] for ln in lines[-tail:])
        return "\n".join(out)


class Tap:
    """Reads the wiretap log: which answers the connections opened during a command got."""

    def __init__(self, path):
        self.path = path

    def mark(self):
        if not self.path:
            return 0
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def answers_since(self, mark):
        if not self.path:
            return []
        time.sleep(0.05)  # the relay logs an answer right after forwarding it
        try:
            with open(self.path, "rb") as f:
                f.seek(mark)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        mine = {}
        answers = []
        for line in text.splitlines():
            m = TAP_CONN.match(line)
            if m:
                mine[m.group(1)] = m.group(2)
                continue
            m = TAP_ANSWER.match(line)
            if m and m.group(1) in mine:
                remark = m.group(7)
                if remark and remark[:1] in "'\"":
                    remark = remark[1:-1]
                peer = mine[m.group(1)] + ("" if m.group(2) == "->" else " (server->client)")
                answers.append((int(m.group(3)), int(m.group(5)), remark, peer))
                continue
            m = TAP_UNANSWERED.match(line)
            if m and m.group(1) in mine:
                answers.append((int(m.group(3)), -1, "unanswered", mine[m.group(1)]))
        return answers


# ------------------------------------------------------------------------ the environment

class Env:
    def __init__(self, args):
        self.args = args
        self.tag = args.tag
        self.version = args.version
        self.version_desc = "V" + args.version.replace(".", "_")  # MQVersion.getVersionDesc
        self.major = int(args.version.split(".")[0])
        cp = open(args.classpath).read().strip()
        self.cp = f"{args.classes}:{cp}"
        self.home = os.path.abspath(args.home)
        self.namesrv = args.namesrv
        self.broker_addr = args.broker_addr
        self.cluster = args.cluster
        self.broker_name = args.broker_name
        self.tap = Tap(args.tap_log)
        self.java = args.java
        self.jvm = ["-XX:TieredStopAtLevel=1", "-Xshare:auto", "-XX:+UseSerialGC", "-Xss512k",
                    "-Xms64m", "-Xmx512m", f"-Duser.home={self.home}",
                    f"-Drocketmq.client.logRoot={self.home}/logs/rocketmqlogs",
                    f"-Dlogback.configurationFile={self.home}/conf/logback_tools.xml",
                    "-Drocketmq.client.logLevel=WARN"]
        self.runs = []  # of the current scenario
        self.bgs = []  # background clients of the current scenario
        self.scenario = ""
        self.log = open(args.log, "a") if args.log else None
        self.body_files = []

    def name(self, kind):
        rnd = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(6))
        return f"mqit_{self.tag}_{self.scenario}_{kind}_{rnd}"

    def note(self, text):
        if self.log:
            self.log.write(text + "\n")
            self.log.flush()

    def mqadmin(self, cmd, *args, timeout=60, namesrv=True):
        argv = [self.java, *self.jvm, "-cp", self.cp, "MqadminMain", cmd, *args]
        if namesrv:
            argv += ["-n", self.namesrv]
        shown = "mqadmin " + " ".join([cmd, *args] + (["-n", self.namesrv] if namesrv else []))
        return self._run(argv, shown, timeout)

    def _run(self, argv, shown, timeout):
        run = Run(argv, shown)
        mark = self.tap.mark()
        t0 = time.time()
        env = dict(os.environ, ROCKETMQ_HOME=self.home)
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, env=env)
            run.rc = p.returncode
            run.out = p.stdout.decode("utf-8", "replace")
            run.err = p.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as e:
            run.timed_out = True
            run.rc = "killed"
            run.out = (e.stdout or b"").decode("utf-8", "replace")
            run.err = (e.stderr or b"").decode("utf-8", "replace")
        run.secs = time.time() - t0
        run.answers = self.tap.answers_since(mark)
        # printMsg writes each body to /tmp/rocketmq/msgbodys/<msgId>: removed at the end.
        self.body_files.extend(re.findall(r"^Message Body Path:\s+(\S+)", run.out, re.M))
        self.runs.append(run)
        self.note(f"[{self.tag} {self.scenario}] {shown}  (exit {run.rc}, {run.secs:.1f} s)\n"
                  + "".join(f"  out| {ln}\n" for ln in run.out.splitlines())
                  + "".join(f"  err| {ln}\n" for ln in run.err.splitlines())
                  + "".join(f"  tap| {a}\n" for a in run.not_success()))
        return run

    # -- background Java clients (the official client of the same line as mqadmin)

    def client(self, mode, *args):
        bg = Background(self, mode, args)
        self.bgs.append(bg)
        return bg

    def stop_clients(self):
        for bg in self.bgs:
            bg.stop()
        self.bgs = []


class Background:
    """A Clients.java process (consume / produce) whose stdout lines are collected."""

    def __init__(self, env, mode, args):
        self.env = env
        self.mode = mode
        self.lines = []
        self.lock = threading.Lock()
        argv = [env.java, *env.jvm, "-cp", env.cp, "Clients", mode, env.namesrv, *args]
        self.shown = "java Clients " + " ".join([mode, env.namesrv, *args])
        self.err_path = os.path.join(env.home, f"client-{os.getpid()}-{len(env.bgs)}-{int(time.time() * 1000)}.err")
        self.err_file = open(self.err_path, "wb")
        self.t0 = time.time()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err_file,
                                     env=dict(os.environ, ROCKETMQ_HOME=env.home))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        env.note(f"[{env.tag} {env.scenario}] started {self.shown} (pid {self.proc.pid})")

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.lock:
                self.lines.append(line)

    def matching(self, prefix):
        with self.lock:
            return [ln for ln in self.lines if ln.startswith(prefix)]

    def count(self, prefix):
        return len(self.matching(prefix))

    def wait_for(self, what, pred, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        if pred():
            return
        raise Fail(f"{what}: not within {timeout} s", self.as_run())

    def ready(self, timeout=60):
        self.wait_for(f"{self.shown} did not start", lambda: self.count("READY") > 0, timeout)
        return self.matching("READY")[0].split(" ", 1)[1]

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=5)
        self.err_file.close()
        if self in self.env.bgs:
            self.env.bgs.remove(self)

    def as_run(self):
        run = Run([], self.shown)
        run.rc = self.proc.poll()
        with self.lock:
            run.out = "\n".join(self.lines)
        try:
            run.err = open(self.err_path, errors="replace").read()
        except OSError:
            pass
        run.secs = time.time() - self.t0
        return run


# ------------------------------------------------------------------- small remoting client

def remoting_call(addr, code, ext, timeout=5):
    """One request with a JSON header to a name server / broker; returns (code, remark, ext, body)."""
    host, port = addr.rsplit(":", 1)
    header = json.dumps({"code": code, "flag": 0, "language": "JAVA", "opaque": 1,
                         "serializeTypeCurrentRPC": "JSON", "version": 399, "extFields": ext}).encode()
    frame = struct.pack(">II", 4 + len(header), len(header)) + header
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(frame)

        def read(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise EOFError("connection closed")
                buf += chunk
            return buf

        (total,) = struct.unpack(">I", read(4))
        rest = read(total)
    (hdr,) = struct.unpack(">I", rest[:4])
    hlen = hdr & 0xFFFFFF
    h = json.loads(rest[4:4 + hlen].decode("utf-8", "replace"))
    return h.get("code"), h.get("remark"), h.get("extFields") or {}, rest[4 + hlen:]


# ------------------------------------------------------------------------------- helpers

def expect(cond, msg, run=None):
    if not cond:
        raise Fail(msg, run)


def no_exception(run, what=None):
    """mqadmin printed no exception (it prints a failed command's exception and exits 0)."""
    exc = run.exceptions()
    if exc:
        refused = run.refused_codes()
        why = f"; REQUEST_CODE_NOT_SUPPORTED for {', '.join(req_name(c) for c in refused)}" if refused else ""
        raise Fail(f"{what or run.shown.split()[1]} printed an exception: {' / '.join(exc[:3])}{why}", run)


def eventually(fn, timeout=15, pause=0.5):
    """Calls fn until it stops raising Fail (propagation to the name server, async indexes)."""
    deadline = time.time() + timeout
    while True:
        try:
            return fn()
        except Fail as e:
            # A refused request code is no matter of time: do not wait for it to change.
            if time.time() >= deadline or (e.run is not None and e.run.refused_codes()):
                raise
            time.sleep(pause)


def create_topic(env, topic, queues=4, *extra):
    r = env.mqadmin("updateTopic", "-t", topic, "-c", env.cluster, "-r", str(queues), "-w", str(queues), *extra)
    no_exception(r)
    expect(f"create topic to {env.broker_addr} success." in r.out,
           f"updateTopic -c did not report 'create topic to {env.broker_addr} success.'", r)
    # Producers and mqadmin look the topic up in the name server: wait for the route.
    eventually(lambda: topic_route(env, topic))
    return r


def fastjson_loads(text):
    """JSON as fastjson writes it: map keys that are numbers come unquoted ({0:"addr"})."""
    return json.loads(re.sub(r'([{,]\s*)(-?\d+)\s*:', r'\1"\2":', text))


def topic_route(env, topic):
    r = env.mqadmin("topicRoute", "-t", topic)
    no_exception(r)
    try:
        route = fastjson_loads(r.out[r.out.index("{"):r.out.rindex("}") + 1])
    except ValueError as e:
        raise Fail(f"topicRoute printed no JSON route: {e}", r)
    return route, r


def create_group(env, group, *settings):
    r = env.mqadmin("updateSubGroup", "-g", group, "-c", env.cluster, *settings)
    no_exception(r)
    expect(f"create subscription group to {env.broker_addr} success." in r.out,
           f"updateSubGroup -c did not report 'create subscription group to {env.broker_addr} success.'", r)
    return r


SEND_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\S+)\s+([0-9A-Fa-f]+)\s*$")


def send_message(env, topic, body, key=None, tag=None, queue=None):
    """mqadmin sendMessage; returns (msgId, queueId)."""
    args = ["-t", topic, "-p", body]
    if key:
        args += ["-k", key]
    if tag:
        args += ["-c", tag]
    if queue is not None:
        args += ["-b", env.broker_name, "-i", str(queue)]
    r = env.mqadmin("sendMessage", *args)
    no_exception(r)
    rows = [SEND_ROW.match(ln) for ln in r.lines if not ln.startswith("#")]
    rows = [m for m in rows if m]
    expect(rows, "sendMessage printed no result row (#Broker Name #QID #Send Result #MsgId)", r)
    broker, qid, status, msgid = rows[0].groups()
    expect(status == "SEND_OK", f"sendMessage result {status}, not SEND_OK", r)
    expect(broker == env.broker_name, f"sendMessage went to broker {broker}, not {env.broker_name}", r)
    if queue is not None:
        expect(int(qid) == queue, f"sendMessage -i {queue} went to queue {qid}", r)
    return msgid, int(qid)


def produce(env, topic, count, prefix, group=None):
    """Sends `count` messages with the Java client; returns the SENT lines split into fields."""
    bg = env.client("produce", group or env.name("pg"), topic, str(count), prefix)
    bg.wait_for(f"the producer did not send {count} messages",
                lambda: bg.count("SENT_ALL") > 0, timeout=60)
    sent = [ln.split() for ln in bg.matching("SENT ")]
    bg.stop()
    expect(len(sent) == count and all(s[6] == "SEND_OK" for s in sent),
           f"the producer sent {len(sent)} of {count} (not all SEND_OK)", bg.as_run())
    return sent


def props(run, sep):
    """`key <sep> value` lines (brokerStatus ':', getBrokerConfig / getConsumerConfig '=')."""
    table = {}
    for ln in run.lines:
        if sep in ln and not ln.startswith("="):
            k, _, v = ln.partition(sep)
            if k.strip() and " " not in k.strip():
                table[k.strip()] = v.strip()
    return table


def printed_message(run):
    """The `Name: value` block of QueryMsgByIdSubCommand.printMsg / showMessage."""
    fields = {}
    for ln in run.lines:
        m = re.match(r"^([A-Z][A-Za-z ]*?):\s+(.*)$", ln)
        if m and m.group(1) not in fields:
            fields[m.group(1)] = m.group(2).strip()
    return fields


def check_body_file(env, fields, body, run):
    path = fields.get("Message Body Path")
    expect(path, "no 'Message Body Path:' line", run)
    try:
        data = open(path, "rb").read()
    except OSError as e:
        raise Fail(f"the body file {path} cannot be read: {e}", run)
    expect(data == body.encode(), f"the body file holds {data[:60]!r}, not {body!r}", run)


def loopback_offset_id(env, offset_id, run=None):
    """An offset message id encodes the store host: only pass ids of loopback hosts on."""
    expect(re.fullmatch(r"[0-9A-F]{32}", offset_id or ""), f"{offset_id!r} is not an IPv4 offset message id", run)
    ip = ".".join(str(int(offset_id[i:i + 2], 16)) for i in range(0, 8, 2))
    port = int(offset_id[8:16], 16)
    expect(ip.startswith("127."), f"offset id {offset_id} names store host {ip}:{port}, not a loopback address", run)
    return f"{ip}:{port}"


# ----------------------------------------------------------------------------- scenarios

SCENARIOS = []


def scenario(name):
    def register(fn):
        SCENARIOS.append((name, fn))
        return fn
    return register


@scenario("updateTopic+topicList")
def s_update_topic(env):
    t1, t2 = env.name("c"), env.name("b")
    create_topic(env, t1, 4)
    r = env.mqadmin("updateTopic", "-t", t2, "-b", env.broker_addr, "-r", "2", "-w", "2")
    no_exception(r)
    expect(f"create topic to {env.broker_addr} success." in r.out, "updateTopic -b did not report success", r)

    def listed():
        r = env.mqadmin("topicList")
        no_exception(r)
        names = {ln.strip() for ln in r.lines}
        for t in (t1, t2):
            expect(t in names, f"topicList does not list {t}", r)
    eventually(listed)


@scenario("topicList-c")
def s_topic_list_cluster(env):
    t = env.name("t")
    create_topic(env, t, 2)
    r = env.mqadmin("topicList", "-c")
    no_exception(r)
    rows = {}
    for ln in r.lines[1:]:
        parts = ln.split()
        if len(parts) >= 2:
            rows.setdefault(parts[1], parts[0])
    expect(r.lines and r.lines[0].startswith("#Cluster Name"), "topicList -c printed no '#Cluster Name' header", r)
    expect(rows.get(t) == env.cluster, f"topicList -c shows {t} in cluster {rows.get(t)!r}, not {env.cluster}", r)


@scenario("topicRoute")
def s_topic_route(env):
    t = env.name("t")
    r = env.mqadmin("updateTopic", "-t", t, "-c", env.cluster, "-r", "3", "-w", "5")
    no_exception(r)

    def routed():
        route, r = topic_route(env, t)
        bds = route.get("brokerDatas") or []
        expect(len(bds) == 1, f"topicRoute shows {len(bds)} brokers, not 1", r)
        bd = bds[0]
        expect(bd.get("brokerName") == env.broker_name, f"brokerName {bd.get('brokerName')!r}", r)
        expect(bd.get("cluster") == env.cluster, f"cluster {bd.get('cluster')!r}", r)
        addrs = {str(k): v for k, v in (bd.get("brokerAddrs") or {}).items()}
        expect(addrs == {"0": env.broker_addr}, f"brokerAddrs {addrs}, not {{0: {env.broker_addr}}}", r)
        qds = route.get("queueDatas") or []
        expect(len(qds) == 1, f"{len(qds)} queueDatas, not 1", r)
        qd = qds[0]
        got = (qd.get("brokerName"), qd.get("readQueueNums"), qd.get("writeQueueNums"), qd.get("perm"))
        expect(got == (env.broker_name, 3, 5, 6),
               f"queueData (brokerName, read, write, perm) = {got}, not ({env.broker_name}, 3, 5, 6)", r)
    eventually(routed)

    r = env.mqadmin("topicRoute", "-t", t, "-l")
    no_exception(r)
    row = [ln.split() for ln in r.lines if ln.startswith(env.cluster)]
    expect(row, "topicRoute -l printed no row for the cluster", r)
    expect(row[0][1] == env.broker_name and row[0][-3:] == ["3", "5", "6"],
           f"topicRoute -l row {row[0]}, want {env.broker_name} ... 3 5 6", r)
    total = [ln.split() for ln in r.lines if ln.startswith("Total:")]
    expect(total and total[0][1:] == ["1", "3", "5"], f"topicRoute -l total {total}, want Total: 1 3 5", r)


@scenario("topicStatus")
def s_topic_status(env):
    t = env.name("t")
    create_topic(env, t, 4)
    for i in range(3):
        send_message(env, t, f"status body {i}", key=f"k{i}", tag="TagA")
    r = env.mqadmin("topicStatus", "-t", t)
    no_exception(r)
    rows = []
    for ln in r.lines:
        m = re.match(r"^(\S+)\s+(\d+)\s+(-?\d+)\s+(-?\d+)\s*(.*)$", ln)
        if m:
            rows.append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5).strip()))
    expect(len(rows) == 4, f"topicStatus shows {len(rows)} queues, not 4", r)
    expect(sorted(q for _, q, *_ in rows) == [0, 1, 2, 3], "queue ids are not 0..3", r)
    expect(all(b == env.broker_name for b, *_ in rows), "a row of another broker", r)
    expect(all(mn == 0 for _, _, mn, _, _ in rows), "a min offset is not 0", r)
    total = sum(mx for _, _, _, mx, _ in rows)
    expect(total == 3, f"max offsets sum to {total}, not the 3 messages sent", r)
    for b, q, mn, mx, last in rows:
        if mx > 0:
            expect(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", last),
                   f"queue {q} holds messages but shows no '#Last Updated' time ({last!r})", r)


@scenario("topicClusterList")
def s_topic_cluster_list(env):
    t = env.name("t")
    create_topic(env, t, 2)
    r = env.mqadmin("topicClusterList", "-t", t)
    no_exception(r)
    got = [ln.strip() for ln in r.lines if ln.strip()]
    expect(got == [env.cluster], f"topicClusterList printed {got}, not [{env.cluster}]", r)


@scenario("deleteTopic")
def s_delete_topic(env):
    t = env.name("t")
    create_topic(env, t, 2)
    r = env.mqadmin("deleteTopic", "-t", t, "-c", env.cluster)
    no_exception(r)
    expect(f"delete topic [{t}] from cluster [{env.cluster}] success." in r.out, "no success line", r)

    def gone():
        r = env.mqadmin("topicList")
        no_exception(r)
        expect(t not in {ln.strip() for ln in r.lines}, f"topicList still lists {t}", r)
    eventually(gone)


def consumer_config(env, group):
    """getConsumerConfig -g: {field: value} of this broker's section, or None without one."""
    r = env.mqadmin("getConsumerConfig", "-g", group)
    no_exception(r)
    header = f"={env.cluster}:{env.broker_name}="
    if not any(header in ln for ln in r.lines):
        return None, r
    return props(r, "="), r


@scenario("updateSubGroup")
def s_update_sub_group(env):
    g = env.name("g")
    create_group(env, g, "-r", "5", "-s", "false", "-q", "1")
    cfg, r = consumer_config(env, g)
    expect(cfg is not None, f"getConsumerConfig shows no section {env.cluster}:{env.broker_name} for {g}", r)
    want = {"groupName": g, "retryMaxTimes": "5", "consumeEnable": "false", "retryQueueNums": "1"}
    got = {k: cfg.get(k) for k in want}
    expect(got == want, f"getConsumerConfig shows {got}, want {want}", r)

    r = env.mqadmin("updateSubGroup", "-g", g, "-b", env.broker_addr, "-r", "7", "-s", "true")
    no_exception(r)
    expect(f"create subscription group to {env.broker_addr} success." in r.out, "updateSubGroup -b: no success line", r)
    cfg, r = consumer_config(env, g)
    got = {k: (cfg or {}).get(k) for k in ("retryMaxTimes", "consumeEnable")}
    expect(got == {"retryMaxTimes": "7", "consumeEnable": "true"}, f"after the update: {got}", r)


@scenario("deleteSubGroup")
def s_delete_sub_group(env):
    g1, g2 = env.name("c"), env.name("b")
    create_group(env, g1)
    create_group(env, g2)
    cfg, r = consumer_config(env, g1)
    expect(cfg is not None, f"{g1} not shown by getConsumerConfig after updateSubGroup", r)
    r = env.mqadmin("deleteSubGroup", "-g", g1, "-c", env.cluster)
    no_exception(r)
    expect(f"delete subscription group [{g1}] from broker [{env.broker_addr}] in cluster [{env.cluster}] success."
           in r.out, "deleteSubGroup -c: no success line", r)
    cfg, r = consumer_config(env, g1)
    expect(cfg is None, f"getConsumerConfig still shows {g1} after deleteSubGroup", r)
    r = env.mqadmin("deleteSubGroup", "-g", g2, "-b", env.broker_addr)
    no_exception(r)
    expect(f"delete subscription group [{g2}] from broker [{env.broker_addr}] success." in r.out,
           "deleteSubGroup -b: no success line", r)
    cfg, r = consumer_config(env, g2)
    expect(cfg is None, f"getConsumerConfig still shows {g2} after deleteSubGroup -b", r)


def progress_rows(run, topic):
    rows = []
    for ln in run.lines:
        parts = ln.split()
        if len(parts) >= 6 and parts[0] == topic and parts[2].isdigit():
            # topic broker qid brokerOffset consumerOffset [clientIP] diff [inflight] lastTime...
            rows.append({"broker": parts[1], "qid": int(parts[2]), "broker_offset": int(parts[3]),
                         "consumer_offset": int(parts[4]), "rest": parts[5:]})
    return rows


@scenario("consumerProgress")
def s_consumer_progress(env):
    t, g = env.name("t"), env.name("g")
    create_topic(env, t, 2)
    create_group(env, g)
    produce(env, t, 20, "first")
    c = env.client("consume", g, t)
    c.ready()
    c.wait_for("the consumer did not receive the 20 messages", lambda: c.count("RECV") >= 20)
    time.sleep(1.5)  # one offset persist interval (1 s), then shutdown persists again
    c.stop()
    produce(env, t, 7, "second")

    def lag():
        r = env.mqadmin("consumerProgress", "-g", g)
        no_exception(r)
        rows = progress_rows(r, t)
        expect(len(rows) == 2, f"consumerProgress shows {len(rows)} queues of {t}, not 2", r)
        bo = sum(x["broker_offset"] for x in rows)
        co = sum(x["consumer_offset"] for x in rows)
        expect((bo, co) == (27, 20), f"broker offsets sum {bo}, consumer offsets sum {co}; want 27 and 20", r)
        diffs = sum(int(x["rest"][0]) for x in rows)
        expect(diffs == 7, f"the #Diff column sums to {diffs}, not 7", r)
        m = re.search(r"Diff Total:\s*(-?\d+)", r.out)
        expect(m and int(m.group(1)) == 7, f"'Diff Total' line {m.group(0) if m else None!r}, want 7", r)
    eventually(lag, timeout=10)


@scenario("consumerProgress(all)")
def s_consumer_progress_all(env):
    t, g = env.name("t"), env.name("g")
    create_topic(env, t, 2)
    produce(env, t, 3, "m")
    c = env.client("consume", g, t)
    c.ready()
    c.wait_for("the consumer did not receive the 3 messages", lambda: c.count("RECV") >= 3)

    def listed():
        r = env.mqadmin("consumerProgress")
        no_exception(r)
        row = [ln.split() for ln in r.lines if ln.split()[:1] == [g]]
        expect(row, f"consumerProgress (no -g) has no row for the online group {g}", r)
        want = [g, "1", env.version_desc, "PUSH", "CLUSTERING"]
        expect(row[0][:5] == want, f"row {row[0]}, want {want} ... (count, version, type, model)", r)
        expect(row[0][-1] == "0", f"#Diff Total {row[0][-1]}, want 0 (all 3 consumed)", r)
    eventually(listed, timeout=15)


@scenario("consumerConnection")
def s_consumer_connection(env):
    t, g = env.name("t"), env.name("g")
    create_topic(env, t, 2)
    c = env.client("consume", g, t)
    client_id = c.ready()

    def connected():
        r = env.mqadmin("consumerConnection", "-g", g)
        no_exception(r)
        rows = [ln.split() for ln in r.lines if ln.split()[:1] == [client_id]]
        expect(rows, f"consumerConnection lists no connection with clientId {client_id}", r)
        row = rows[0]
        expect(len(row) >= 4 and re.fullmatch(r"[\d.]+:\d+", row[1]), f"#ClientAddr {row[1:2]} is not ip:port", r)
        expect(row[2:4] == ["JAVA", env.version_desc], f"language/version {row[2:4]}, want JAVA {env.version_desc}", r)
        subs = [ln.split() for ln in r.lines if ln.split()[:1] == [t]]
        expect(subs and subs[0][1:] == ["*"], f"subscription of {t} is {subs}, want '{t} *'", r)
        for k, v in (("ConsumeType", "CONSUME_PASSIVELY"), ("MessageModel", "CLUSTERING"),
                     ("ConsumeFromWhere", "CONSUME_FROM_FIRST_OFFSET")):
            expect(f"{k}: {v}" in r.out, f"no '{k}: {v}' line", r)
    eventually(connected, timeout=10)


@scenario("producerConnection")
def s_producer_connection(env):
    t, pg = env.name("t"), env.name("pg")
    create_topic(env, t, 2)
    p = env.client("produce", pg, t, "1", "conn")
    client_id = p.ready()
    p.wait_for("the producer did not send", lambda: p.count("SENT_ALL") > 0)

    def connected():
        r = env.mqadmin("producerConnection", "-g", pg, "-t", t)
        no_exception(r)
        rows = [ln.split() for ln in r.lines if re.match(r"^\d{4}\s", ln)]
        expect(rows, "producerConnection lists no connection", r)
        row = rows[0]
        expect(row[1] == client_id, f"clientId {row[1]}, want {client_id}", r)
        expect(re.fullmatch(r"[\d.]+:\d+", row[2]), f"#ClientAddr {row[2]} is not ip:port", r)
        expect(row[3:5] == ["JAVA", env.version_desc], f"language/version {row[3:5]}, want JAVA {env.version_desc}", r)
    eventually(connected, timeout=10)


def reset_rows(run):
    rows = []
    for ln in run.lines:
        parts = ln.split()
        if parts and not ln.startswith("#") and all(re.fullmatch(r"-?\d+", x) for x in parts[1:]) and len(parts) >= 3:
            rows.append([parts[0]] + [int(x) for x in parts[1:]])
    return rows


@scenario("resetOffsetByTime(online)")
def s_reset_online(env):
    t, g = env.name("t"), env.name("g")
    create_topic(env, t, 2)
    create_group(env, g)
    before = int(time.time() * 1000) - 1
    time.sleep(0.01)
    sent = produce(env, t, 10, "r")
    c = env.client("consume", g, t)
    c.ready()
    c.wait_for("the consumer did not receive the 10 messages", lambda: c.count("RECV") >= 10)
    time.sleep(1.5)  # offsets persisted
    r = env.mqadmin("resetOffsetByTime", "-g", g, "-t", t, "-s", str(before))
    no_exception(r)
    expect(re.search(r"(rollback|reset) consumer offset by specified", r.out), "no 'reset consumer offset' line", r)
    expect("reset consumer offset by specified consumerGroup" not in r.out,
           "mqadmin fell back to the offline reset (the broker said CONSUMER_NOT_ONLINE) with the consumer online", r)
    rows = [x for x in reset_rows(r) if x[0] == env.broker_name]
    expect(len(rows) == 2, f"{len(rows)} rows #brokerName #queueId #offset, want 2", r)
    expect(all(x[2] == 0 for x in rows), f"reset offsets {[x[2] for x in rows]}, want 0 (all sent after -s)", r)
    # The client drops the queues, waits 10 s (4.x), takes the new offsets, and pulls again
    # after its next rebalance (every 20 s).
    c.wait_for("after resetOffsetByTime the online consumer did not receive the 10 messages again "
               f"(received {c.count('RECV')} in all)", lambda: c.count("RECV") >= 20, timeout=60)
    again = {ln.split()[3] for ln in c.matching("RECV")[10:]}
    expect(again == {s[2] for s in sent}, "the messages received again are not the 10 sent", c.as_run())


@scenario("resetOffsetByTime(offline)")
def s_reset_offline(env):
    t, g = env.name("t"), env.name("g")
    create_topic(env, t, 2)
    create_group(env, g)
    before = int(time.time() * 1000) - 1
    time.sleep(0.01)
    produce(env, t, 10, "r")
    c = env.client("consume", g, t)
    c.ready()
    c.wait_for("the consumer did not receive the 10 messages", lambda: c.count("RECV") >= 10)
    time.sleep(1.5)
    c.stop()
    r = env.mqadmin("resetOffsetByTime", "-g", g, "-t", t, "-s", str(before))
    no_exception(r)
    rows = [x for x in reset_rows(r) if x[0] == env.broker_name]
    if f"reset consumer offset by specified consumerGroup[{g}], topic[{t}]" in r.out:
        # A 4.x broker answers INVOKE_BROKER_TO_RESET_OFFSET with CONSUMER_NOT_ONLINE, and
        # mqadmin resets itself: GET_CONSUME_STATS, SEARCH_OFFSET_BY_TIMESTAMP, UPDATE_CONSUMER_OFFSET.
        # #brokerName #queueId #brokerOffset #consumerOffset #timestampOffset #resetOffset
        expect(len(rows) == 2 and all(len(x) == 6 for x in rows), f"rows {rows}, want 2 of 6 columns", r)
        got = [sum(x[i] for x in rows) for i in (2, 3, 4, 5)]
        expect(got == [10, 10, 0, 0], f"sums of broker/consumer/timestamp/reset offsets {got}, want [10, 10, 0, 0]", r)
    else:
        # A 5.x broker resets an offline group's offsets itself and answers the table.
        expect(re.search(rf"(rollback|start reset) consumer offset by specified,? group\[{re.escape(g)}\]", r.out),
               "neither the offline table ('reset consumer offset by specified consumerGroup[...]') "
               "nor the broker's ('... consumer offset by specified group[...]')", r)
        expect(len(rows) == 2 and all(x[2] == 0 for x in rows),
               f"rows #brokerName #queueId #offset {rows}, want 2 queues reset to 0", r)
    c2 = env.client("consume", g, t)
    c2.ready()
    c2.wait_for(f"a consumer started after the reset did not receive the 10 messages again "
                f"(received {c2.count('RECV')})", lambda: c2.count("RECV") >= 10, timeout=30)


CLUSTER_ROW_4 = re.compile(
    r"^(?P<cluster>\S+)\s+(?P<broker>\S+)\s+(?P<bid>\d+)\s+(?P<addr>\S+:\d+)\s+(?P<version>.*?)\s+"
    r"(?P<intps>-?\d+\.\d+\([^)]*\))\s+(?P<outtps>-?\d+\.\d+\([^)]*\))\s+(?P<pcwait>\S+)\s+(?P<hour>\S+)\s+"
    r"(?P<space>\S+)\s*$")
CLUSTER_ROW_5 = re.compile(
    r"^(?P<cluster>\S+)\s+(?P<broker>\S+)\s+(?P<bid>\d+)\s+(?P<addr>\S+:\d+)\s+(?P<version>.*?)\s+"
    r"(?P<intps>-?\d+\.\d+\([^)]*\))\s+(?P<outtps>-?\d+\.\d+\([^)]*\))\s+(?P<timer>-?\d+--?\d+\([^)]*\))\s+"
    r"(?P<pcwait>\S+)\s+(?P<hour>\S+)\s+(?P<space>\S+)\s+(?P<active>\S+)\s*$")
# The runtime-info keys (GET_BROKER_RUNTIME_INFO) that clusterList and clusterList -m read.
# The out-TPS key is spelled "getTransferedTps" by the 4.x tools (4.x brokers send that) and
# "getTransferredTps" by the 5.x tools (5.x brokers send only that: the 4.9.8 clusterList
# throws a NullPointerException against a 5.x Java broker).
CLUSTER_KEYS_COMMON = ["brokerVersionDesc", "putTps", "sendThreadPoolQueueSize", "pullThreadPoolQueueSize",
                       "sendThreadPoolQueueHeadWaitTimeMills", "pullThreadPoolQueueHeadWaitTimeMills",
                       "pageCacheLockTimeMills", "earliestMessageTimeStamp", "commitLogDiskRatio"]


def cluster_keys(env):
    if env.major >= 5:
        return CLUSTER_KEYS_COMMON + ["getTransferredTps", "brokerActive"]
    return CLUSTER_KEYS_COMMON + ["getTransferedTps"]


CLUSTER_KEYS_M = ["msgPutTotalYesterdayMorning", "msgPutTotalTodayMorning", "msgPutTotalTodayNow",
                  "msgGetTotalYesterdayMorning", "msgGetTotalTodayMorning", "msgGetTotalTodayNow"]


def runtime_info(env):
    r = env.mqadmin("brokerStatus", "-b", env.broker_addr)
    no_exception(r)
    return props(r, ":"), r


def missing_keys(env, keys):
    try:
        info, _ = runtime_info(env)
    except Fail:
        return ["(brokerStatus failed)"]
    return [k for k in keys if k not in info]


@scenario("clusterList")
def s_cluster_list(env):
    r = env.mqadmin("clusterList")
    pattern = CLUSTER_ROW_5 if env.major >= 5 else CLUSTER_ROW_4
    rows = [pattern.match(ln) for ln in r.lines[1:]]
    rows = [m for m in rows if m and m.group("addr") == env.broker_addr]
    if r.exceptions() or not rows:
        missing = missing_keys(env, cluster_keys(env))
        why = f" (the broker's runtime info lacks {', '.join(missing)})" if missing else ""
        no_exception(r, "clusterList" + why)
        expect(rows, f"clusterList has no row for {env.broker_addr}{why}", r)
    m = rows[0]
    expect((m.group("cluster"), m.group("broker"), m.group("bid")) == (env.cluster, env.broker_name, "0"),
           f"row cluster/broker/BID = {m.group('cluster')}/{m.group('broker')}/{m.group('bid')}", r)
    expect(m.group("version").strip(), "the #Version column is empty", r)
    problems = []
    if not re.fullmatch(r"-?\d+\.\d+\(\d+,\d+ms\)", m.group("intps")):
        problems.append(f"#InTPS(LOAD) {m.group('intps')!r}")
    if not re.fullmatch(r"-?\d+\.\d+\(\d+,\d+ms(\|[^)]*)?\)", m.group("outtps")):
        problems.append(f"#OutTPS(LOAD) {m.group('outtps')!r}")
    if not re.fullmatch(r"-?\d+", m.group("pcwait")):
        problems.append(f"#PCWait(ms) {m.group('pcwait')!r}")
    if not re.fullmatch(r"\d+\.\d\d", m.group("hour")) or not re.fullmatch(r"\d+\.\d{4}", m.group("space")):
        problems.append(f"#Hour {m.group('hour')!r} / #SPACE {m.group('space')!r}")
    if env.major >= 5 and m.group("active") != "true":
        problems.append(f"#ACTIVATED {m.group('active')!r}")
    if problems:
        missing = missing_keys(env, cluster_keys(env))
        raise Fail("clusterList row: " + "; ".join(problems)
                   + (f" (the broker's runtime info lacks {', '.join(missing)})" if missing else ""), r)


@scenario("clusterList-m")
def s_cluster_list_more(env):
    t = env.name("t")
    create_topic(env, t, 1)
    send_message(env, t, "counted")
    r = env.mqadmin("clusterList", "-m")
    no_exception(r)
    rows = [ln.split() for ln in r.lines[1:] if ln.split()[:2] == [env.cluster, env.broker_name]]
    expect(rows and len(rows[0]) == 6 and all(re.fullmatch(r"-?\d+", x) for x in rows[0][2:]),
           f"clusterList -m has no row '{env.cluster} {env.broker_name} N N N N'", r)
    in_today = int(rows[0][4])
    if in_today < 1:
        missing = missing_keys(env, CLUSTER_KEYS_M)
        raise Fail(f"#InTotalToday is {in_today} after a send today"
                   + (f" (the broker's runtime info lacks {', '.join(missing)})" if missing else ""), r)


@scenario("brokerStatus")
def s_broker_status(env):
    t = env.name("t")
    create_topic(env, t, 1)
    info, r = runtime_info(env)
    want = ["brokerVersionDesc", "brokerVersion", "commitLogMaxOffset", "commitLogMinOffset",
            "msgPutTotalTodayNow", "msgGetTotalTodayNow", "bootTimestamp", "runtime",
            "getTransferredTps"] + CLUSTER_KEYS_COMMON + CLUSTER_KEYS_M
    missing = [k for k in dict.fromkeys(want) if k not in info]
    expect(not missing, f"brokerStatus lacks {', '.join(missing)} (has {len(info)} keys)", r)
    expect(re.fullmatch(r"-?\d+", info["commitLogMaxOffset"]), f"commitLogMaxOffset {info['commitLogMaxOffset']!r}", r)
    before = int(info["commitLogMaxOffset"])
    send_message(env, t, "grows the commit log")
    info2, r2 = runtime_info(env)
    after = int(info2.get("commitLogMaxOffset", "-1"))
    expect(after > before, f"commitLogMaxOffset {before} -> {after} after a send", r2)
    put_before, put_after = int(info.get("msgPutTotalTodayNow", 0)), int(info2.get("msgPutTotalTodayNow", 0))
    expect(put_after >= put_before + 1, f"msgPutTotalTodayNow {put_before} -> {put_after} after a send", r2)


@scenario("queryMsgByKey")
def s_query_by_key(env):
    t = env.name("t")
    create_topic(env, t, 2)
    key = env.name("key")
    msgid, qid = send_message(env, t, "keyed body", key=key)

    def found():
        r = env.mqadmin("queryMsgByKey", "-t", t, "-k", key)
        no_exception(r)
        rows = [ln.split() for ln in r.lines if ln.split()[:1] == [msgid]]
        expect(rows, f"queryMsgByKey does not list {msgid}", r)
        expect(rows[0][1:3] == [str(qid), "0"], f"#QID #Offset {rows[0][1:3]}, want {qid} 0", r)
    eventually(found, timeout=10)


@scenario("queryMsgTraceById")
def s_query_trace(env):
    # Apogee's own client writes the trace (the Java client's format): a traced send, then a
    # traced consumer; the official mqadmin must read both from RMQ_SYS_TRACE_TOPIC.
    apogee = os.environ.get("APOGEE_BIN")
    expect(apogee, "APOGEE_BIN is not set (run.sh sets it)")
    t = env.name("t")
    create_topic(env, t, 2)
    key = env.name("key")
    sent = subprocess.run([apogee, "admin", "sendMessage", "-n", env.namesrv, "-t", t, "-p", "traced body",
                           "-k", key, "--trace", "--json"], capture_output=True, timeout=60)
    expect(sent.returncode == 0, f"apogee admin sendMessage --trace: {sent.stderr.decode()}")
    sent = json.loads(sent.stdout)
    msgid = sent["msgId"]
    group = env.name("g")
    consumer = subprocess.Popen([apogee, "bench", "consume", "-n", env.namesrv, "-t", t, "-g", group,
                                 "--no-create", "--from-first", "--trace", "-d", "90"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def traced():
            r = env.mqadmin("queryMsgTraceById", "-i", msgid)
            no_exception(r)
            pub = [ln.split() for ln in r.lines if ln.split()[:1] == ["Pub"]]
            sub = [ln.split() for ln in r.lines if ln.split()[:1] == ["Sub"]]
            expect(pub, f"no Pub row for {msgid}", r)
            expect(pub[0][-1] == "success" and pub[0][-2].endswith("ms"), f"Pub row {pub[0]}", r)
            expect(sub, f"no Sub row for {msgid} (consumer {group})", r)
            expect(sub[0][1] == group and sub[0][-1] == "success", f"Sub row {sub[0]}, want group {group}", r)
        eventually(traced, timeout=40, pause=1)
    finally:
        consumer.terminate()
        consumer.wait(timeout=30)


@scenario("queryMsgByUniqueKey")
def s_query_by_unique_key(env):
    t = env.name("t")
    create_topic(env, t, 2)
    key = env.name("key")
    body = "unique body " + key
    msgid, qid = send_message(env, t, body, key=key, tag="TagU")

    def found():
        r = env.mqadmin("queryMsgByUniqueKey", "-t", t, "-i", msgid)
        f = printed_message(r)
        want = {"Topic": t, "Tags": "[TagU]", "Keys": f"[{key}]", "Queue ID": str(qid), "Queue Offset": "0"}
        got = {k: f.get(k) for k in want}
        if got != want:
            no_exception(r)
        expect(got == want, f"printed {got}, want {want}", r)
        check_body_file(env, f, body, r)
        return r
    r = eventually(found, timeout=10)
    # After the message, printMsg lists its consumers (messageTrackDetail: who consumes the
    # topic, their connections and offsets); an exception there is printed, not fatal.
    no_exception(r, "queryMsgByUniqueKey (its message track)")


@scenario("queryMsgById")
def s_query_by_id(env):
    t = env.name("t")
    create_topic(env, t, 2)
    sent = produce(env, t, 1, "byid")
    _, _i, uniq, offset_id, qid, qoff, _status = sent[0]
    loopback_offset_id(env, offset_id)
    args = ["-i", offset_id] + (["-t", t] if env.major >= 5 else [])
    r = env.mqadmin("queryMsgById", *args)
    f = printed_message(r)
    want = {"OffsetID": offset_id, "Topic": t, "Keys": "[byid-0]", "Tags": "[mqadmin]",
            "Queue ID": qid, "Queue Offset": qoff}
    got = {k: f.get(k) for k in want}
    if got != want:
        no_exception(r)
    expect(got == want, f"printed {got}, want {want}", r)
    check_body_file(env, f, "body-0", r)
    no_exception(r, "queryMsgById (its message track)")


@scenario("queryMsgByOffset")
def s_query_by_offset(env):
    t = env.name("t")
    create_topic(env, t, 2)
    keys = [env.name("k0"), env.name("k1")]
    for i, k in enumerate(keys):
        send_message(env, t, f"offset body {i}", key=k, queue=1)
    r = env.mqadmin("queryMsgByOffset", "-t", t, "-b", env.broker_name, "-i", "1", "-o", "1")
    f = printed_message(r)
    want = {"Topic": t, "Keys": f"[{keys[1]}]", "Queue ID": "1", "Queue Offset": "1"}
    got = {k: f.get(k) for k in want}
    if got != want:
        no_exception(r)
    expect(got == want, f"printed {got}, want {want}", r)
    check_body_file(env, f, "offset body 1", r)
    no_exception(r, "queryMsgByOffset (its message track)")


def broker_config(env, *target):
    r = env.mqadmin("getBrokerConfig", *(target or ("-b", env.broker_addr)))
    no_exception(r)
    return props(r, "="), r


@scenario("getBrokerConfig+updateBrokerConfig")
def s_broker_config(env):
    cfg, r = broker_config(env)
    expect(f"============{env.broker_addr}============" in r.out, "no '====addr====' header", r)
    want = {"brokerName": env.broker_name, "brokerClusterName": env.cluster}
    got = {k: cfg.get(k) for k in want}
    expect(got == want, f"getBrokerConfig shows {got}, want {want} (of {len(cfg)} keys)", r)
    for k in ("autoCreateTopicEnable", "listenPort", "brokerId", "flushDiskType", "storePathRootDir"):
        expect(k in cfg, f"getBrokerConfig lacks {k} (of {len(cfg)} keys)", r)
    original = cfg["autoCreateTopicEnable"]
    flipped = "false" if original == "true" else "true"
    try:
        r = env.mqadmin("updateBrokerConfig", "-b", env.broker_addr, "-k", "autoCreateTopicEnable", "-v", flipped)
        no_exception(r)
        expect(f"update broker config success, {env.broker_addr}" in r.out, "updateBrokerConfig: no success line", r)
        cfg, r = broker_config(env)
        expect(cfg.get("autoCreateTopicEnable") == flipped,
               f"after updateBrokerConfig autoCreateTopicEnable={flipped}, getBrokerConfig shows "
               f"{cfg.get('autoCreateTopicEnable')!r}", r)
        cfg, r = broker_config(env, "-c", env.cluster)
        expect(f"============Master: {env.broker_addr}============" in r.out, "getBrokerConfig -c: no Master header", r)
        expect(cfg.get("autoCreateTopicEnable") == flipped, "getBrokerConfig -c shows another value", r)
    finally:
        env.mqadmin("updateBrokerConfig", "-b", env.broker_addr, "-k", "autoCreateTopicEnable", "-v", original)


@scenario("wipeWritePerm+addWritePerm")
def s_write_perm(env):
    t = env.name("t")
    create_topic(env, t, 2)
    wiped = False
    try:
        r = env.mqadmin("wipeWritePerm", "-b", env.broker_name)
        wiped = True
        no_exception(r)
        m = re.search(rf"wipe write perm of broker\[{re.escape(env.broker_name)}\] in name server\[{re.escape(env.namesrv)}\] OK, (\d+)", r.out)
        expect(m, "no 'wipe write perm of broker[...] in name server[...] OK, N' line", r)
        expect(int(m.group(1)) >= 1, f"wipeWritePerm counted {m.group(1)} topics, want >= 1 ({t} exists)", r)
        route, r = topic_route(env, t)
        perms = [q.get("perm") for q in route.get("queueDatas") or []]
        expect(perms == [4], f"after wipeWritePerm the route's perm is {perms}, want [4] (read only)", r)
        r = env.mqadmin("addWritePerm", "-b", env.broker_name)
        wiped = False
        no_exception(r)
        m = re.search(rf"add write perm of broker\[{re.escape(env.broker_name)}\] in name server\[{re.escape(env.namesrv)}\] OK, (\d+)", r.out)
        expect(m, "no 'add write perm of broker[...] in name server[...] OK, N' line", r)
        expect(int(m.group(1)) >= 1, f"addWritePerm counted {m.group(1)} topics, want >= 1", r)
        route, r = topic_route(env, t)
        perms = [q.get("perm") for q in route.get("queueDatas") or []]
        expect(perms == [6], f"after addWritePerm the route's perm is {perms}, want [6]", r)
    finally:
        if wiped:
            env.mqadmin("addWritePerm", "-b", env.broker_name)


@scenario("updateKvConfig+deleteKvConfig")
def s_kv_config(env):
    ns, key, value = env.name("ns"), "k1", "v-" + env.name("v")
    r = env.mqadmin("updateKvConfig", "-s", ns, "-k", key, "-v", value)
    no_exception(r)
    expect("create or update kv config to namespace success." in r.out, "updateKvConfig: no success line", r)
    code, remark, ext, _ = remoting_call(env.namesrv, 101, {"namespace": ns, "key": key})
    expect(code == 0 and ext.get("value") == value,
           f"GET_KV_CONFIG {ns}/{key} answered code {code} value {ext.get('value')!r} ({remark}), want {value!r}", r)
    r = env.mqadmin("deleteKvConfig", "-s", ns, "-k", key)
    no_exception(r)
    expect("delete kv config from namespace success." in r.out, "deleteKvConfig: no success line", r)
    code, remark, ext, _ = remoting_call(env.namesrv, 101, {"namespace": ns, "key": key})
    expect(code != 0, f"GET_KV_CONFIG {ns}/{key} still answers {ext.get('value')!r} after deleteKvConfig", r)


# --------------------------------------------------------------------------------- driver

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tag")
    ap.add_argument("--version")
    ap.add_argument("--classpath", help="file with the tools' classpath")
    ap.add_argument("--classes", help="MqadminMain and Clients classes")
    ap.add_argument("--home", help="ROCKETMQ_HOME and user.home of the JVMs")
    ap.add_argument("--namesrv")
    ap.add_argument("--broker-addr", help="the address the broker registers")
    ap.add_argument("--broker-name", default="broker-a")
    ap.add_argument("--cluster", default="DefaultCluster")
    ap.add_argument("--tap-log", default="")
    ap.add_argument("--java", default="java")
    ap.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    ap.add_argument("--results", default="")
    ap.add_argument("--log", default="", help="every command with its whole output")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for name, _ in SCENARIOS:
            print(name)
        return 0
    missing = [f"--{k.replace('_', '-')}" for k in ("tag", "version", "classpath", "classes", "home", "namesrv",
                                                     "broker_addr") if not getattr(args, k)]
    if missing:
        ap.error("the following arguments are required: " + ", ".join(missing))
    env = Env(args)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - {n for n, _ in SCENARIOS}
    if unknown:
        print(f"mqadmin: unknown scenario(s) {sorted(unknown)}; see --list", file=sys.stderr)
        return 2
    results = []
    for name, fn in SCENARIOS:
        if only and name not in only:
            continue
        env.scenario = re.sub(r"[^A-Za-z0-9]", "", name)[:20]
        env.runs = []
        t0 = time.time()
        failure, failed_run = None, None
        try:
            fn(env)
        except Fail as e:
            failure, failed_run = str(e), e.run
        except Exception as e:  # a bug here, or an unexpected output shape
            failure = f"{type(e).__name__}: {e}\n" + traceback.format_exc()
        finally:
            env.stop_clients()
        refused = sorted({c for run in env.runs for c in run.refused_codes()})
        if failure is None and refused:
            failure = ("the assertions held, but the broker answered REQUEST_CODE_NOT_SUPPORTED to "
                       + ", ".join(req_name(c) for c in refused))
            failed_run = next(r for r in env.runs if r.refused_codes())
        secs = time.time() - t0
        status = "PASS" if failure is None else "FAIL"
        tail = f" [refused: {', '.join(req_name(c) for c in refused)}]" if refused else ""
        print(f"mqadmin {env.tag}: {status} {name} ({len(env.runs)} commands, {secs:.1f} s)"
              + (f": {failure.splitlines()[0]}" if failure else "") + tail, flush=True)
        if failure:
            for extra in failure.splitlines()[1:]:
                print(f"    {extra}")
            if failed_run is not None:
                print(failed_run.report(), flush=True)
        results.append({"tag": env.tag, "version": env.version, "scenario": name, "status": status,
                        "message": failure, "refused": refused,
                        "refused_names": [req_name(c) for c in refused], "seconds": round(secs, 1),
                        "commands": [r.shown for r in env.runs]})
    for path in set(env.body_files):  # mqadmin writes bodies to /tmp/rocketmq/msgbodys/<id>
        try:
            os.remove(path)
        except OSError:
            pass
    passed = sum(r["status"] == "PASS" for r in results)
    failed = len(results) - passed
    if args.results:
        with open(args.results, "w") as f:
            json.dump(results, f, indent=1)
    print(f"mqadmin {env.tag} ({env.version}): {passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
