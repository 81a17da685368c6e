// The mikrobill plugin protocol in Node.js: what docs/plugin-protocol.md
// describes, in the order a plugin does it. Nothing here is specific to a
// gateway; gateway.js is the gateway.
//
//   1. check the environment the host sets (magic cookie, protocol versions);
//   2. read the one-time key and certificate from the inherited descriptor
//      and trust exactly the host's certificate (PLUGIN_CLIENT_CERT);
//   3. serve gRPC with mutual TLS on a unix socket in PLUGIN_UNIX_SOCKET_DIR:
//      the mikrobill services, and go-plugin's controller, stdio, health
//      and broker;
//   4. print the handshake line on stdout, and nothing else on stdout ever;
//   5. log hclog JSON lines on stderr;
//   6. return errors as gRPC statuses with a google.rpc.ErrorInfo reason;
//   7. reach the host service through the broker when Configure names it.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

// Never change these: they are the handshake (sdk/internal/wire).
const MAGIC_COOKIE_KEY = 'MIKROBILL_PLUGIN_MAGIC_COOKIE';
const MAGIC_COOKIE_VALUE = '4d1a0f1b-7c2e-4b8e-9a55-mikrobill-plugin-v1';
const CORE_PROTOCOL_VERSION = 1; // go-plugin's
const APP_PROTOCOL_VERSION = 1; // mikrobill's
// The largest gRPC message either way: a webhook carries a body up to the
// host's body limit (10 MiB by default). gRPC libraries default to 4 MiB.
const MAX_MESSAGE = 64 << 20;
// The domain of mikrobill's ErrorInfo reasons.
const ERROR_DOMAIN = 'mikrobill.dev/plugin';

// The .proto files the plugin loads, relative to proto/.
const PROTO_FILES = [
  'mikrobill/plugin/v1/common.proto',
  'mikrobill/plugin/v1/plugin.proto',
  'mikrobill/plugin/v1/host.proto',
  'mikrobill/payment/v1/payment.proto',
  'goplugin/grpc_controller.proto',
  'goplugin/grpc_stdio.proto',
  'goplugin/grpc_broker.proto',
  'grpc/health/v1/health.proto',
  'google/rpc/status.proto',
  'google/rpc/error_details.proto',
];

// protoDir is ./proto in the plugin folder (npm run proto copies it there),
// else the repository's proto/ when run from examples/node-gateway.
function protoDir() {
  const own = path.join(__dirname, 'proto');
  if (fs.existsSync(path.join(own, PROTO_FILES[0]))) return own;
  return path.resolve(__dirname, '..', '..', 'proto');
}

function loadProtos() {
  const dir = protoDir();
  const def = protoLoader.loadSync(PROTO_FILES, {
    includeDirs: [dir],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(dir, target));
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  return { pkg, root };
}

// Logger writes hclog JSON lines on stderr, which the host reads and
// re-logs under the plugin's name: "@level", "@message", "@timestamp",
// "@module", then the fields. Never pass a secret's value.
const LEVELS = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };
class Logger {
  constructor(module, level) {
    this.module = module;
    this.min = LEVELS[level] ?? LEVELS.info;
  }
  named(name) {
    const l = new Logger(`${this.module}.${name}`, 'trace');
    l.min = this.min;
    return l;
  }
  log(level, message, fields = {}) {
    if (LEVELS[level] < this.min) return;
    // hclog's timestamp: microseconds, six digits; the host parses exactly
    // "2006-01-02T15:04:05.000000Z07:00" and treats a line it cannot parse
    // as a debug message.
    const ts = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    const line = { '@level': level, '@message': message, '@module': this.module, '@timestamp': ts, ...fields };
    process.stderr.write(JSON.stringify(line) + '\n');
  }
  trace(m, f) { this.log('trace', m, f); }
  debug(m, f) { this.log('debug', m, f); }
  info(m, f) { this.log('info', m, f); }
  warn(m, f) { this.log('warn', m, f); }
  error(m, f) { this.log('error', m, f); }
}

// PluginError is an error the host matches by its reason: code is the
// gRPC status code, reason one of the SDK's (see docs/plugin-protocol.md).
class PluginError extends Error {
  constructor(code, reason, message) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

// The SDK's reasons this plugin uses, with their status codes.
const errors = {
  invalidArgument: (m) => new PluginError(grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT', 'invalid argument: ' + m),
  failedPrecondition: (m) => new PluginError(grpc.status.FAILED_PRECONDITION, 'FAILED_PRECONDITION', 'failed precondition: ' + m),
  unavailable: (m) => new PluginError(grpc.status.UNAVAILABLE, 'UNAVAILABLE', 'upstream unavailable: ' + m),
  notSupported: (m) => new PluginError(grpc.status.UNIMPLEMENTED, 'NOT_SUPPORTED', 'not supported by this plugin: ' + m),
  deadlineExceeded: (m) => new PluginError(grpc.status.DEADLINE_EXCEEDED, 'DEADLINE_EXCEEDED', 'deadline exceeded: ' + m),
  internal: (m) => new PluginError(grpc.status.INTERNAL, 'INTERNAL', 'internal error: ' + m),
  invalidSignature: (m) => new PluginError(grpc.status.UNAUTHENTICATED, 'PAYMENT_INVALID_SIGNATURE', 'invalid webhook signature: ' + m),
  replay: (m) => new PluginError(grpc.status.ALREADY_EXISTS, 'PAYMENT_REPLAY', 'notification id already used for another payment: ' + m),
  amountMismatch: (m) => new PluginError(grpc.status.INVALID_ARGUMENT, 'PAYMENT_AMOUNT_MISMATCH', 'amount does not match the payment: ' + m),
  unknownOrder: (m) => new PluginError(grpc.status.NOT_FOUND, 'PAYMENT_UNKNOWN_ORDER', 'unknown order: ' + m),
  unconfirmed: (m) => new PluginError(grpc.status.FAILED_PRECONDITION, 'PAYMENT_UNCONFIRMED', "the gateway's status API does not confirm the notification: " + m),
  malformed: (m) => new PluginError(grpc.status.INVALID_ARGUMENT, 'PAYMENT_MALFORMED_PAYLOAD', 'malformed webhook payload: ' + m),
  unsupportedCurrency: (m) => new PluginError(grpc.status.INVALID_ARGUMENT, 'PAYMENT_UNSUPPORTED_CURRENCY', 'currency not supported by this gateway: ' + m),
};

// statusOf turns err into the status grpc-js sends: the code, the message,
// and a google.rpc.Status with one ErrorInfo in the
// grpc-status-details-bin trailer.
function statusOf(root, err) {
  const pe = err instanceof PluginError ? err : errors.internal(err && err.message ? err.message : String(err));
  const ErrorInfo = root.lookupType('google.rpc.ErrorInfo');
  const Status = root.lookupType('google.rpc.Status');
  const info = ErrorInfo.encode(ErrorInfo.create({ reason: pe.reason, domain: ERROR_DOMAIN })).finish();
  const st = Status.encode(Status.create({
    code: pe.code,
    message: pe.message,
    details: [{ type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value: info }],
  })).finish();
  const md = new grpc.Metadata();
  md.set('grpc-status-details-bin', Buffer.from(st));
  return { code: pe.code, details: pe.message, metadata: md };
}

// unary wraps an async handler (call -> response) as a grpc-js handler:
// errors become statuses, and the call's deadline and cancellation reach
// the handler as an AbortSignal (call.signal).
function unary(root, log, fn) {
  return (call, callback) => {
    const ac = new AbortController();
    call.signal = ac.signal;
    call.on('cancelled', () => ac.abort(new Error('the host cancelled the call')));
    const deadline = call.getDeadline();
    let timer;
    if (deadline instanceof Date || typeof deadline === 'number') {
      const ms = Number(deadline) - Date.now();
      if (Number.isFinite(ms)) timer = setTimeout(() => ac.abort(new Error('the deadline passed')), Math.max(0, ms));
    }
    Promise.resolve()
      .then(() => fn(call))
      .then((resp) => callback(null, resp), (err) => {
        if (!(err instanceof PluginError)) log.error('call failed', { error: String(err && err.stack ? err.stack : err) });
        callback(statusOf(root, err));
      })
      .finally(() => clearTimeout(timer));
  };
}

// readTLS reads the key and certificate the host made for this launch from
// the inherited descriptor MIKROBILL_PLUGIN_TLS_FD names (PEM: a PKCS #8
// "PRIVATE KEY" block, then a "CERTIFICATE" block), and the host's
// certificate from PLUGIN_CLIENT_CERT.
function readTLS() {
  const hostCert = process.env.PLUGIN_CLIENT_CERT;
  const fdText = process.env.MIKROBILL_PLUGIN_TLS_FD;
  if (!hostCert || !fdText) {
    throw new Error('PLUGIN_CLIENT_CERT or MIKROBILL_PLUGIN_TLS_FD is not set: this plugin needs a mikrobill host, which passes both (mutual TLS is not optional)');
  }
  const bundle = fs.readFileSync(Number(fdText), 'utf8');
  fs.closeSync(Number(fdText));
  const key = bundle.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/);
  const cert = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/);
  if (!key || !cert) throw new Error(`descriptor ${fdText} did not hold a PRIVATE KEY and a CERTIFICATE in PEM`);
  return { hostCert: Buffer.from(hostCert), key: Buffer.from(key[0]), cert: Buffer.from(cert[0]) };
}

// handshakeCert is the certificate as the handshake line's sixth field
// carries it: its DER bytes in standard base64 without padding.
function handshakeCert(certPEM) {
  const b64 = certPEM.toString().replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  return Buffer.from(b64, 'base64').toString('base64').replace(/=+$/, '');
}

// Broker is the plugin's side of go-plugin's GRPCBroker: the host sends the
// address of each service it offers (ConnInfo) on the stream it opens; the
// plugin dials the address with the same mutual TLS.
class Broker {
  constructor(tls, log) {
    this.tls = tls;
    this.log = log;
    this.known = new Map(); // service id -> ConnInfo
    this.waiters = new Map(); // service id -> [resolve]
    this.streams = new Set();
  }
  startStream(call) {
    this.streams.add(call);
    call.on('data', (info) => {
      const id = Number(info.service_id);
      this.log.trace('broker: service offered', { id, network: info.network });
      this.known.set(id, info);
      for (const resolve of this.waiters.get(id) || []) resolve(info);
      this.waiters.delete(id);
    });
    call.on('end', () => { this.streams.delete(call); call.end(); });
    call.on('error', () => this.streams.delete(call));
  }
  close() {
    for (const s of this.streams) s.end();
  }
  // dial returns a client of ServiceClient for the broker service id,
  // waiting up to 5 s for the host to offer it.
  async dial(id, ServiceClient) {
    let info = this.known.get(id);
    if (!info) {
      info = await new Promise((resolve, reject) => {
        const list = this.waiters.get(id) || [];
        list.push(resolve);
        this.waiters.set(id, list);
        setTimeout(() => reject(new Error(`the host offered no broker service ${id} within 5 s`)), 5000).unref();
      });
    }
    const target = info.network === 'unix' ? 'unix:' + info.address : info.address;
    const creds = grpc.credentials.createSsl(this.tls.hostCert, this.tls.key, this.tls.cert);
    return new ServiceClient(target, creds, {
      'grpc.ssl_target_name_override': 'localhost',
      'grpc.default_authority': 'localhost',
      'grpc.max_receive_message_length': MAX_MESSAGE,
      'grpc.max_send_message_length': MAX_MESSAGE,
    });
  }
}

// Host is the host service (mikrobill.plugin.v1.HostService) over the
// broker: the durable store and the cache, with promises.
class Host {
  constructor(client) { this.client = client; }
  call(method, req, signal) {
    return new Promise((resolve, reject) => {
      const c = this.client[method](req, { deadline: Date.now() + 10000 }, (err, resp) => (err ? reject(err) : resolve(resp)));
      if (signal) signal.addEventListener('abort', () => c.cancel(), { once: true });
    });
  }
  async storeGet(key, signal) {
    const r = await this.call('StoreGet', { key }, signal);
    return r.found ? Buffer.from(r.value).toString() : null;
  }
  // storeSet stores value under key for ttlSeconds; onlyIfAbsent: only when
  // the key is not there. It returns whether it stored.
  async storeSet(key, value, ttlSeconds, onlyIfAbsent, signal) {
    const r = await this.call('StoreSet', { key, value: Buffer.from(value), ttl: { seconds: String(ttlSeconds), nanos: 0 }, only_if_absent: onlyIfAbsent }, signal);
    return r.stored;
  }
}

// serve runs the plugin: impl has describe, configure(settings, host,
// dataDir), checkHealth, createPayment, getPayment, handleWebhook, each
// async taking the request (and the call, whose .signal ends with the
// host's deadline).
function serve(makeImpl) {
  if (process.env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    process.stderr.write('This is a mikrobill plugin: the mikrobill host runs it. Install its folder in the host\'s plugin directory (mikrobill plugin install) instead of running it yourself.\n');
    process.exit(1);
  }
  const versions = (process.env.PLUGIN_PROTOCOL_VERSIONS || '').split(',').map((v) => v.trim());
  if (!versions.includes(String(APP_PROTOCOL_VERSION))) {
    process.stderr.write(`This plugin speaks mikrobill plugin protocol ${APP_PROTOCOL_VERSION}; the host offers ${versions.join(', ') || 'none'}. Use a plugin built for this host's protocol.\n`);
    process.exit(1);
  }
  const log = new Logger('node-gateway', (process.env.MIKROBILL_PLUGIN_LOG_LEVEL || 'info').toLowerCase());
  const tls = readTLS();
  const { pkg, root } = loadProtos();
  const broker = new Broker(tls, log.named('broker'));
  const impl = makeImpl({ log, errors });
  const u = (fn) => unary(root, log, fn);

  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE,
    'grpc.max_send_message_length': MAX_MESSAGE,
  });
  let stdioCalls = new Set();
  const stop = () => {
    broker.close();
    for (const c of stdioCalls) c.end();
    stdioCalls = new Set();
    server.tryShutdown(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };

  server.addService(pkg.plugin.GRPCController.service, {
    Shutdown: (_call, callback) => {
      log.debug('the host asked the plugin to shut down');
      callback(null, {});
      setImmediate(stop);
    },
  });
  server.addService(pkg.plugin.GRPCStdio.service, {
    // Nothing is forwarded this way: the plugin writes its log to stderr,
    // which the host reads directly. The stream stays open until shutdown.
    StreamStdio: (call) => { stdioCalls.add(call); call.on('cancelled', () => stdioCalls.delete(call)); },
  });
  server.addService(pkg.plugin.GRPCBroker.service, { StartStream: (call) => broker.startStream(call) });
  server.addService(pkg.grpc.health.v1.Health.service, {
    Check: (call, callback) => {
      const svc = call.request.service;
      if (svc === '' || svc === 'plugin') return callback(null, { status: 'SERVING' });
      return callback(null, { status: 'SERVICE_UNKNOWN' });
    },
    Watch: (call) => { call.write({ status: 'SERVING' }); },
  });

  let host = null;
  server.addService(pkg.mikrobill.plugin.v1.PluginService.service, {
    Describe: u(() => impl.describe()),
    Configure: u(async (call) => {
      const req = call.request;
      if (req.host_service_broker_id && !host) {
        host = new Host(await broker.dial(req.host_service_broker_id, pkg.mikrobill.plugin.v1.HostService));
      }
      return impl.configure(Buffer.from(req.settings_json || ''), host, req.data_dir);
    }),
    CheckHealth: u(() => impl.checkHealth()),
    CollectMetrics: u(() => ({ prometheus_text: Buffer.from('') })),
    HandleEvent: u(() => ({})),
    HandleHttp: u(() => { throw errors.notSupported('this plugin declares no routes'); }),
  });
  server.addService(pkg.mikrobill.payment.v1.PaymentService.service, {
    CreatePayment: u((call) => impl.createPayment(call.request, call)),
    GetPayment: u((call) => impl.getPayment(call.request, call)),
    HandleWebhook: u((call) => impl.handleWebhook(call.request, call)),
    Refund: u(() => { throw errors.notSupported('refunds'); }),
    ListMethods: u(() => { throw errors.notSupported('payment methods'); }),
  });

  const dir = process.env.PLUGIN_UNIX_SOCKET_DIR || os.tmpdir();
  const sock = path.join(dir, 'plugin' + crypto.randomBytes(6).toString('hex'));
  const creds = grpc.ServerCredentials.createSsl(tls.hostCert, [{ private_key: tls.key, cert_chain: tls.cert }], true);
  server.bindAsync('unix:' + sock, creds, (err) => {
    if (err) {
      process.stderr.write(`listen on ${sock}: ${err.message}\n`);
      process.exit(1);
    }
    // The handshake: the only line this plugin ever writes on stdout.
    process.stdout.write(`${CORE_PROTOCOL_VERSION}|${APP_PROTOCOL_VERSION}|unix|${sock}|grpc|${handshakeCert(tls.cert)}\n`);
    log.debug('serving', { address: sock });
  });
  // go-plugin plugins outlive a Ctrl-C in the host's terminal: the host
  // stops them through the controller.
  process.on('SIGINT', () => {});
}

module.exports = { serve, errors, PluginError, PROTO_FILES, MAX_MESSAGE };
