#!/usr/bin/env node
// A verifier of rollguard control commands, written from docs/signing.md alone, with
// Node's built-in modules only (no npm package). Section numbers refer to that spec.
//
//   node verify.mjs vectors topics/testvectors/commands.json
//       verifies every test vector; prints one JSON line per vector with what it got,
//       exits 1 when any differs from what the vector expects
//   node verify.mjs check RING.json [--now SECONDS | --no-time] < messages.jsonl
//       reads {"id": ..., "b64": "<message bytes, base64>"} lines (id: the line number when
//       absent; the demo writes rollguard-out/demo/control-messages.jsonl so); prints
//       {"id", "got"} lines: "ok:worker" / "ok:operator" or the reason (§2-§9)

import { createPublicKey, verify as edVerify } from "node:crypto";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const MAX_BYTES = 65536; // §2
const MAX_DEPTH = 8; // §3.8
const SAFE = 9007199254740991; // §3.7: 2^53 - 1
const SKEW = 30; // §8
const MAX_LIFETIME = 86400; // §8

class Refused extends Error {
  constructor(reason, detail) {
    super(detail);
    this.reason = reason;
  }
}
const refuse = (reason, detail) => {
  throw new Refused(reason, detail);
};

// ---- §3 strict JSON -------------------------------------------------------------------
// Numbers are kept as {num: Number, int: bool} (int: written without fraction or
// exponent) until the schema check; the canonical form prints num.

class Num {
  constructor(num, int) {
    this.num = num;
    this.int = int;
  }
}

function decodeUtf8(bytes) {
  try {
    // fatal: invalid UTF-8 throws; ignoreBOM: a BOM stays in the text (and is not JSON)
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return refuse("malformed", "not UTF-8");
  }
}

function wellFormed(s) {
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(k + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      k++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

function parseStrict(text) {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const fail = (what) => refuse("malformed", `not JSON: ${what} at ${i}`);
  const value = (depth) => {
    ws();
    const c = text[i];
    if (c === "{") return object(depth + 1);
    if (c === "[") return array(depth + 1);
    if (c === '"') return string();
    if (c === "-" || (c >= "0" && c <= "9")) return number();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    return fail("unexpected character");
  };
  const object = (depth) => {
    if (depth > MAX_DEPTH) refuse("malformed", `nested deeper than ${MAX_DEPTH}`);
    i++; // {
    const out = new Map();
    ws();
    if (text[i] === "}") {
      i++;
      return out;
    }
    for (;;) {
      ws();
      if (text[i] !== '"') fail("expected a member name");
      const name = string();
      if (out.has(name)) refuse("malformed", `duplicate member name ${JSON.stringify(name)}`);
      ws();
      if (text[i] !== ":") fail("expected ':'");
      i++;
      out.set(name, value(depth));
      ws();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "}") {
        i++;
        return out;
      }
      fail("expected ',' or '}'");
    }
  };
  const array = (depth) => {
    if (depth > MAX_DEPTH) refuse("malformed", `nested deeper than ${MAX_DEPTH}`);
    i++; // [
    const out = [];
    ws();
    if (text[i] === "]") {
      i++;
      return out;
    }
    for (;;) {
      out.push(value(depth));
      ws();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "]") {
        i++;
        return out;
      }
      fail("expected ',' or ']'");
    }
  };
  const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
  const string = () => {
    i++; // "
    let out = "";
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text[i];
      if (c === '"') {
        i++;
        break;
      }
      if (c < " ") fail("raw control character in a string");
      if (c !== "\\") {
        out += c;
        i++;
        continue;
      }
      const e = text[i + 1];
      if (e in ESCAPES) {
        out += ESCAPES[e];
        i += 2;
      } else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
        i += 6;
      } else {
        fail("bad escape");
      }
    }
    // §3.5: no unpaired surrogate (a pair of escapes makes one character, as raw text does)
    if (!wellFormed(out)) refuse("malformed", "string with an unpaired surrogate");
    return out;
  };
  const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
  const number = () => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail("bad number");
    i += m[0].length;
    const int = m[2] === undefined && m[3] === undefined;
    const num = Number(m[0]);
    if (!Number.isFinite(num)) refuse("malformed", "number out of range"); // §3.6
    if (int && (m[0].replace("-", "").length > 16 || Math.abs(num) > SAFE)) {
      refuse("malformed", "integer out of the range ±(2**53 - 1)"); // §3.7
    }
    return new Num(num, int);
  };
  const doc = value(0);
  ws();
  if (i !== text.length) fail("extra data");
  if (!(doc instanceof Map)) refuse("malformed", "expected a JSON object"); // §3.3
  return doc;
}

// ---- §5 schema ------------------------------------------------------------------------

const ACTIONS = ["halt", "rollback", "freeze", "pause", "reduce_scope", "hold", "promote",
  "proceed", "resume"];
const chars = (s) => [...s].length; // code points
const isStr = (v) => typeof v === "string";
const isNum = (v) => v instanceof Num;
const isInt = (v) => v instanceof Num && v.int;

function check(ok, what) {
  if (!ok) refuse("malformed", what);
}

function str(doc, name, { max, min = 0, pattern, required = false, nullable = false } = {}) {
  if (!doc.has(name)) return check(!required, `missing ${name}`);
  const v = doc.get(name);
  if (v === null && nullable) return;
  check(isStr(v), `${name}: expected a string`);
  check(chars(v) >= min && (max === undefined || chars(v) <= max), `${name}: length`);
  if (pattern) check(pattern.test(v), `${name}: pattern`);
}

function schema(doc) {
  const known = ["v", "command_id", "rollout_id", "stage", "action", "reason", "rule",
    "evidence", "advisory", "seq", "rule_set_version", "issued_at", "expires_at",
    "monitor_version", "issuer", "key_id", "signature"];
  for (const name of doc.keys()) check(known.includes(name), `unknown member ${name}`);
  str(doc, "command_id", { required: true, min: 8, max: 128, pattern: /^[A-Za-z0-9_.:-]+$/ });
  str(doc, "rollout_id", {
    required: true, min: 1, max: 128, pattern: /^(\*|[A-Za-z0-9_.:/@+-]+)$/,
  });
  str(doc, "stage", { required: true, max: 128 });
  str(doc, "action", { required: true });
  check(ACTIONS.includes(doc.get("action")), "action: unknown");
  str(doc, "reason", { required: true, max: 4096 });
  str(doc, "rule", { max: 256, nullable: true });
  if (doc.has("evidence")) {
    const ev = doc.get("evidence");
    check(Array.isArray(ev), "evidence: expected an array");
    ev.forEach(evidence);
  }
  if (doc.has("advisory")) check(typeof doc.get("advisory") === "boolean", "advisory: boolean");
  if (doc.has("seq")) {
    const seq = doc.get("seq");
    check(isInt(seq) && seq.num >= 0 && seq.num <= SAFE, "seq: integer 0..2^53-1");
  }
  str(doc, "rule_set_version", { max: 128 });
  for (const name of ["issued_at", "expires_at"]) {
    check(doc.has(name), `missing ${name}`);
    const t = doc.get(name);
    check(isNum(t) && t.num >= 946684800 && t.num <= 4102444800, `${name}: time`);
  }
  str(doc, "monitor_version", { max: 64 });
  str(doc, "issuer", { max: 73, pattern: /^(worker|operator:[A-Za-z0-9][A-Za-z0-9_.@-]*)$/ });
  str(doc, "key_id", { max: 64, pattern: /^([A-Za-z0-9][A-Za-z0-9_.:-]*)?$/ });
  str(doc, "signature", { max: 128 });
  check(doc.get("expires_at").num > doc.get("issued_at").num, "expires_at not after issued_at");
}

function evidence(item) {
  check(item instanceof Map, "evidence item: expected an object");
  const known = ["rule", "signal", "variant", "segment", "observed", "baseline", "threshold",
    "comparator", "window_s", "for_s", "samples", "from_ts", "to_ts", "stats", "examples"];
  for (const name of item.keys()) check(known.includes(name), `evidence: unknown ${name}`);
  for (const name of ["rule", "signal", "variant"]) str(item, name, { required: true });
  str(item, "comparator", {});
  for (const name of ["observed", "baseline", "threshold", "window_s", "for_s", "from_ts",
    "to_ts"]) {
    if (item.has(name)) check(item.get(name) === null || isNum(item.get(name)), name);
  }
  if (item.has("samples")) {
    const n = item.get("samples");
    check(n === null || (isInt(n) && n.num >= 0 && n.num <= SAFE), "samples");
  }
  if (item.has("segment") && item.get("segment") !== null) {
    const seg = item.get("segment");
    check(seg instanceof Map && [...seg.values()].every(isStr), "segment");
  }
  if (item.has("stats")) {
    const stats = item.get("stats");
    check(stats instanceof Map && [...stats.values()].every(isNum), "stats");
  }
  if (item.has("examples")) {
    const ex = item.get("examples");
    check(Array.isArray(ex) && ex.every(isStr), "examples");
  }
}

// ---- §6 canonical form (RFC 8785) and signature -----------------------------------------

function canonical(v) {
  if (v === null || v === true || v === false) return String(v);
  if (v instanceof Num) return JSON.stringify(v.num); // ECMAScript number to string; -0 -> 0
  if (isStr(v)) return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  // names sorted by UTF-16 code units: the default order of JavaScript's sort
  const names = [...v.keys()].sort();
  return `{${names.map((n) => `${JSON.stringify(n)}:${canonical(v.get(n))}`).join(",")}}`;
}

function publicKey(hex) {
  const x = Buffer.from(hex, "hex").toString("base64url");
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
}

function signature(doc, ring) {
  const keyId = doc.get("key_id");
  const sig = doc.get("signature");
  if (!keyId || !sig) refuse("unsigned", "no key_id or signature");
  const key = ring.get(keyId);
  if (!key) refuse("unknown_key", `key_id ${keyId}`);
  if (!/^[0-9a-f]{128}$/.test(sig)) refuse("bad_signature", "not 128 lowercase hex");
  const body = new Map([...doc].filter(([name]) => name !== "signature"));
  const bytes = Buffer.from(canonical(body), "utf8");
  if (!edVerify(null, bytes, key.publicKey, Buffer.from(sig, "hex"))) {
    refuse("bad_signature", "does not verify");
  }
  return key;
}

// ---- §7 authority ------------------------------------------------------------------------

const WORKER_ACTIONS = ["promote", "proceed", "hold", "pause", "freeze", "reduce_scope",
  "rollback", "halt"];
const OPERATOR_ACTIONS = ["halt", "pause", "freeze", "resume"];

function covers(key, rollout) {
  if (key.rollouts === undefined) return true;
  return key.rollouts.some((p) =>
    p === rollout || (p.endsWith("*") && rollout !== "*" && rollout.startsWith(p.slice(0, -1))));
}

function authority(doc, key) {
  const issuer = doc.has("issuer") ? doc.get("issuer") : "worker";
  const action = doc.get("action");
  const rollout = doc.get("rollout_id");
  if (key.role === "worker") {
    if (issuer !== "worker") refuse("not_authorized", "worker key, other issuer");
    if (!WORKER_ACTIONS.includes(action)) refuse("not_authorized", `worker key: ${action}`);
    if (rollout === "*" || !covers(key, rollout)) refuse("not_authorized", "rollout");
  } else {
    if (issuer !== `operator:${key.name}`) refuse("not_authorized", "operator: other issuer");
    if (!OPERATOR_ACTIONS.includes(action)) refuse("not_authorized", `operator key: ${action}`);
    if (!covers(key, rollout)) refuse("not_authorized", "rollout");
  }
}

// ---- §2-§9 in order ----------------------------------------------------------------------

function verifyMessage(bytes, ring, now) {
  try {
    if (bytes.length > MAX_BYTES) refuse("oversized", `${bytes.length} bytes`); // §2
    const doc = parseStrict(decodeUtf8(bytes)); // §3
    if (!doc.has("v")) refuse("malformed", "missing v"); // §4
    if (!isInt(doc.get("v")) || doc.get("v").num !== 1) refuse("unknown_version", "v");
    schema(doc); // §5
    const key = signature(doc, ring); // §6
    authority(doc, key); // §7
    const issued = doc.get("issued_at").num;
    const expires = doc.get("expires_at").num;
    if (now !== null) { // §8
      if (expires + SKEW < now) refuse("expired", "");
      if (issued - SKEW > now) refuse("not_yet_valid", "");
      if (expires - issued > MAX_LIFETIME) refuse("lifetime_too_long", "");
      if (doc.get("advisory") === true) refuse("advisory", ""); // §9
    }
    return { got: `ok:${key.role}`, doc, key };
  } catch (err) {
    if (err instanceof Refused) return { got: err.reason, detail: err.message };
    throw err;
  }
}

// ---- §10 replay rules --------------------------------------------------------------------

class State {
  constructor() {
    this.handled = new Set();
    this.marks = new Map(); // rollout + role -> newest issued_at
    this.operator = new Map(); // target -> {action, issued}
  }

  haltedBy(rollout) {
    let newest = null;
    for (const target of [rollout, "*"]) {
      const s = this.operator.get(target);
      if (!s) continue;
      // newest wins; at equal issued_at the rollout's own beats "*"
      if (newest === null || s.issued > newest.issued ||
          (s.issued === newest.issued && newest.target === "*")) {
        newest = { ...s, target };
      }
    }
    return newest !== null && newest.action === "halt";
  }

  admit(verified) {
    const { doc, key } = verified;
    const id = doc.get("command_id");
    const rollout = doc.get("rollout_id");
    const issued = doc.get("issued_at").num;
    if (this.handled.has(id)) return "duplicate";
    const mark = this.marks.get(`${rollout}\u0000${key.role}`);
    if (mark !== undefined && issued < mark) return "replayed";
    if (key.role === "worker" && this.haltedBy(rollout)) return "halted";
    this.handled.add(id);
    this.marks.set(`${rollout}\u0000${key.role}`, Math.max(mark ?? issued, issued));
    const action = doc.get("action");
    if (key.role === "operator" && (action === "halt" || action === "resume")) {
      const old = this.operator.get(rollout);
      if (!old || issued >= old.issued) this.operator.set(rollout, { action, issued });
    }
    return "delivered";
  }
}

// ---- key ring (§1) -----------------------------------------------------------------------

function loadRing(entries) {
  const ring = new Map();
  for (const e of entries) {
    if (ring.has(e.key_id)) throw new Error(`key id ${e.key_id} twice`);
    ring.set(e.key_id, {
      role: e.role,
      name: e.name,
      rollouts: e.rollouts,
      publicKey: publicKey(e.public_key),
    });
  }
  return ring;
}

function messageBytes(entry) {
  return entry.message_b64 !== undefined
    ? Buffer.from(entry.message_b64, "base64")
    : Buffer.from(entry.message, "utf8");
}

function runVectors(path) {
  const vectors = JSON.parse(readFileSync(path, "utf8"));
  const ring = loadRing(vectors.keys);
  const now = vectors.policy.now;
  let differ = 0;
  const report = (set, name, step, got, expected) => {
    if (got !== expected) differ++;
    console.log(JSON.stringify({ set, name, step, got, expected }));
  };
  for (const v of vectors.valid) {
    report("valid", v.name, null, verifyMessage(messageBytes(v), ring, now).got, `ok:${v.trust}`);
  }
  for (const v of vectors.invalid) {
    report("invalid", v.name, null, verifyMessage(messageBytes(v), ring, now).got, v.reason);
  }
  for (const seq of vectors.sequences) {
    const state = new State();
    seq.steps.forEach((step, n) => {
      const verified = verifyMessage(messageBytes(step), ring, now);
      const got = verified.got.startsWith("ok:") ? state.admit(verified) : verified.got;
      report("sequence", seq.name, n, got, step.outcome);
    });
  }
  process.exitCode = differ ? 1 : 0;
}

async function runCheck(ringPath, args) {
  const ring = loadRing(JSON.parse(readFileSync(ringPath, "utf8")).keys);
  const at = args.indexOf("--now");
  const now = args.includes("--no-time") ? null : at >= 0 ? Number(args[at + 1]) : Date.now() / 1000;
  let n = 0;
  for await (const line of createInterface({ input: process.stdin })) {
    n++;
    if (!line.trim()) continue;
    const { id = n, b64 } = JSON.parse(line);
    const got = verifyMessage(Buffer.from(b64, "base64"), ring, now).got;
    console.log(JSON.stringify({ id, got }));
  }
}

const [command, path, ...rest] = process.argv.slice(2);
if (command === "vectors" && path) runVectors(path);
else if (command === "check" && path) await runCheck(path, rest);
else {
  console.error("usage: verify.mjs vectors FILE | check RING.json [--now S | --no-time]");
  process.exitCode = 2;
}
