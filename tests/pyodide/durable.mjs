// Durable Objects and a queue consumer's MessageBatch, in the shapes Cloudflare documents, for the
// parts Miniflare cannot give a Python object: Miniflare runs Durable Objects and queue consumers
// only as JS classes/scripts inside workerd, while the Python code under test runs in Pyodide here.
//
// - `state(id)`: a DurableObjectState whose `storage` is backed by Node's real SQLite
//   (`node:sqlite`): `sql.exec(query, ...bindings)` returns a cursor (`toArray()`, `one()`, `raw()`,
//   `next()`, iteration, `columnNames`, `rowsRead`, `rowsWritten`) and refuses BEGIN/COMMIT/
//   SAVEPOINT as workerd does; key-value `get/put/delete/list` (structured clone, in a hidden
//   table of the same database, so transactions cover them), `getAlarm/setAlarm/deleteAlarm`,
//   `deleteAll()`, `transactionSync(fn)` and `transaction(async fn)` (savepoints; `deleteAll()`
//   inside one throws "Cannot call deleteAll() within a transaction", as workerd does).
// - `namespace(className, create)`: `idFromName`, `idFromString`, `get(id)`; one instance per id,
//   made by `create(state)`; a stub's method call structured-clones its arguments and result, as RPC
//   does (a value that cannot be cloned throws DataCloneError).
// - `batch(queue, messages)`: a MessageBatch (`queue`, `messages[{id, timestamp, body, attempts,
//   ack(), retry({delaySeconds})}]`, `ackAll()`, `retryAll({delaySeconds})`) recording what the
//   consumer decided, for the harness's delivery loop to apply.
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { deserialize, serialize } from "node:v8";

const KV_TABLE = "_cf_KV";
const META_TABLE = "_cf_METADATA";
const FORBIDDEN = /^\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/i;

function toArrayBuffer(v) {
  // workerd gives BLOB columns as ArrayBuffer; node:sqlite gives Uint8Array.
  return v instanceof Uint8Array ? v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) : v;
}

class SqlCursor {
  constructor(columnNames, rows, rowsWritten) {
    this.columnNames = columnNames;
    this._rows = rows; // arrays
    this._at = 0;
    this.rowsRead = rows.length; // workerd counts rows scanned; here rows returned
    this.rowsWritten = rowsWritten;
  }
  _object(r) {
    return Object.fromEntries(this.columnNames.map((c, i) => [c, r[i]]));
  }
  next() {
    if (this._at >= this._rows.length) return { done: true, value: undefined };
    return { done: false, value: this._object(this._rows[this._at++]) };
  }
  [Symbol.iterator]() {
    return this;
  }
  toArray() {
    const out = [];
    for (let r = this.next(); !r.done; r = this.next()) out.push(r.value);
    return out;
  }
  one() {
    const all = this.toArray();
    if (all.length !== 1) {
      throw new Error(`Expected exactly one result from SQL query, but got ${all.length === 0 ? "no" : "multiple"} results.`);
    }
    return all[0];
  }
  *raw() {
    while (this._at < this._rows.length) yield this._rows[this._at++];
  }
}

class Storage {
  constructor() {
    this.db = new DatabaseSync(":memory:");
    this.db.exec(`CREATE TABLE ${KV_TABLE} (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID`);
    this.db.exec(`CREATE TABLE ${META_TABLE} (key TEXT PRIMARY KEY, value) WITHOUT ROWID`);
    this.depth = 0;
    this.sql = { exec: (query, ...bindings) => this._exec(query, bindings) };
    Object.defineProperty(this.sql, "databaseSize", { get: () => 0 });
  }
  _exec(query, bindings) {
    if (FORBIDDEN.test(query)) {
      throw new Error("To execute a transaction, please use the state.storage.transaction() or "
        + "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT statements.");
    }
    const stmt = this.db.prepare(query);
    const columns = stmt.columns().map((c) => c.name);
    if (columns.length === 0) {
      const res = stmt.run(...bindings);
      return new SqlCursor([], [], Number(res.changes));
    }
    stmt.setReturnArrays(true);
    const rows = stmt.all(...bindings).map((r) => r.map(toArrayBuffer));
    return new SqlCursor(columns, rows, 0);
  }
  // -- key-value API
  async get(key) {
    const row = this.db.prepare(`SELECT value FROM ${KV_TABLE} WHERE key = ?`).get(key);
    return row === undefined ? undefined : deserialize(row.value);
  }
  async put(key, value) {
    this.db.prepare(`INSERT OR REPLACE INTO ${KV_TABLE} (key, value) VALUES (?, ?)`).run(key, serialize(value));
  }
  async delete(keys) {
    const many = Array.isArray(keys);
    let n = 0;
    for (const k of many ? keys : [keys]) {
      n += Number(this.db.prepare(`DELETE FROM ${KV_TABLE} WHERE key = ?`).run(k).changes);
    }
    return many ? n : n > 0;
  }
  async list(options = {}) {
    const prefix = options.prefix ?? "";
    const limit = options.limit ?? -1;
    const rows = this.db.prepare(
      `SELECT key, value FROM ${KV_TABLE} WHERE substr(key, 1, ?) = ? ORDER BY key LIMIT ?`,
    ).all(prefix.length, prefix, limit);
    return new Map(rows.map((r) => [r.key, deserialize(r.value)]));
  }
  // -- alarms
  async getAlarm() {
    const row = this.db.prepare(`SELECT value FROM ${META_TABLE} WHERE key = 'alarm'`).get();
    return row === undefined ? null : row.value;
  }
  async setAlarm(when) {
    const ms = when instanceof Date ? when.getTime() : Number(when);
    this.db.prepare(`INSERT OR REPLACE INTO ${META_TABLE} (key, value) VALUES ('alarm', ?)`).run(ms);
  }
  async deleteAlarm() {
    this.db.prepare(`DELETE FROM ${META_TABLE} WHERE key = 'alarm'`).run();
  }
  async deleteAll() {
    if (this.depth > 0) throw new Error("Cannot call deleteAll() within a transaction");
    const alarm = await this.getAlarm();
    const objects = this.db.prepare(
      "SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'",
    ).all();
    for (const o of objects) {
      if (o.name !== KV_TABLE && o.name !== META_TABLE) this.db.exec(`DROP ${o.type} "${o.name}"`);
    }
    this.db.exec(`DELETE FROM ${KV_TABLE}; DELETE FROM ${META_TABLE}`);
    if (alarm !== null) await this.setAlarm(alarm); // deleteAll() leaves the alarm (documented)
  }
  // -- transactions: savepoints, rolled back when the closure throws
  _begin() {
    this.depth += 1;
    this.db.exec(`SAVEPOINT txn${this.depth}`);
  }
  _end(ok) {
    const name = `txn${this.depth}`;
    if (!ok) this.db.exec(`ROLLBACK TO ${name}`);
    this.db.exec(`RELEASE ${name}`);
    this.depth -= 1;
  }
  transactionSync(fn) {
    this._begin();
    try {
      const value = fn();
      this._end(true);
      return value;
    } catch (e) {
      this._end(false);
      throw e;
    }
  }
  async transaction(closure) {
    this._begin();
    let rolledBack = false;
    const txn = Object.create(this);
    txn.rollback = () => {
      rolledBack = true;
    };
    try {
      const value = await closure(txn);
      this._end(!rolledBack);
      return value;
    } catch (e) {
      this._end(false);
      throw e;
    }
  }
}

class ObjectId {
  constructor(hex, name) {
    this._hex = hex;
    if (name !== undefined) this.name = name;
  }
  toString() {
    return this._hex;
  }
  equals(other) {
    return other.toString() === this._hex;
  }
}

class Namespace {
  constructor(className, create) {
    this.className = className;
    this.create = create;
    this.objects = new Map();
  }
  idFromName(name) {
    const hex = createHash("sha256").update(`${this.className}\0${name}`).digest("hex");
    return new ObjectId(hex, name);
  }
  idFromString(hex) {
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new TypeError("Invalid Durable Object ID: must be 64 hex digits");
    return new ObjectId(hex);
  }
  _instance(id) {
    const hex = id.toString();
    let obj = this.objects.get(hex);
    if (obj === undefined) {
      obj = this.create({ id, storage: new Storage(), waitUntil: () => {} });
      this.objects.set(hex, obj);
    }
    return obj;
  }
  get(id) {
    const ns = this;
    return new Proxy({ id }, {
      get(target, method) {
        if (method === "id") return target.id;
        if (typeof method !== "string" || method === "then") return undefined;
        return async (...args) => {
          const sent = structuredClone(args); // what RPC does to arguments
          const obj = ns._instance(id);
          const result = await obj[method](...sent);
          return structuredClone(result);
        };
      },
    });
  }
}

class Message {
  constructor(raw, outcome) {
    this.id = raw.id;
    this.timestamp = new Date(raw.timestamp);
    this.body = structuredClone(raw.body);
    this.attempts = raw.attempts;
    this._outcome = outcome;
  }
  ack() {
    this._outcome.explicit.set(this.id, { ack: true });
  }
  retry(options) {
    this._outcome.explicit.set(this.id, { ack: false, delaySeconds: options?.delaySeconds ?? 0 });
  }
}

export const durable = {
  // A queue producer that sends through Miniflare's real one (its checks, its errors) and hands
  // each sent body, as the consumer would receive it (structured clone), to `onSend(body, delay)`.
  producer(real, onSend) {
    return {
      async send(body, options) {
        await real.send(body, options);
        onSend(structuredClone(body), options?.delaySeconds ?? 0);
      },
      async sendBatch(messages, options) {
        await real.sendBatch(messages, options);
        for (const m of messages) onSend(structuredClone(m.body), m.delaySeconds ?? options?.delaySeconds ?? 0);
      },
    };
  },
  state: () => ({ storage: new Storage() }),
  namespace: (className, create) => new Namespace(className, create),
  // messages: [{id, timestamp (ms), body, attempts}]; `outcome` holds the consumer's decisions.
  batch(queue, messages) {
    const outcome = { explicit: new Map(), all: null };
    return {
      queue,
      messages: messages.map((m) => new Message(m, outcome)),
      ackAll() {
        outcome.all = { ack: true };
      },
      retryAll(options) {
        outcome.all = { ack: false, delaySeconds: options?.delaySeconds ?? 0 };
      },
      outcome,
    };
  },
};
