// The gateway: the conformance kit's toy gateway (sdk/paymenttest/toypay),
// whose API is JSON over HTTP with a bearer key and whose notifications are
// signed with HMAC-SHA256 over the raw body (header X-Toy-Signature, hex):
//
//   POST /v1/payments              {"order_id","amount","currency"} + Idempotency-Key -> payment
//   GET  /v1/payments/{id}         -> payment, or 404
//   GET  /v1/payments?order_id=... -> the order's latest payment, or 404
//   payment:      {"id","order_id","amount","currency","status"}
//   notification: {"event_id","payment_id","order_id","amount","currency","status"}
//
// What every gateway does the same way is here too (replay records in the
// host's durable store, confirmation by the status API, amount checks,
// deadlines); protocol.js is the plugin protocol.
'use strict';

const crypto = require('crypto');

const NAME = 'node-gateway';
const VERSION = '1.0.0';
const CURRENCIES = ['IDR', 'USD'];
// How long a replay record is kept: longer than the gateway resends.
const REPLAY_TTL_SECONDS = 30 * 24 * 3600;
const SETTINGS = ['base_url', 'api_key', 'webhook_secret'];
const STATUSES = {
  unpaid: 'PAYMENT_STATUS_PENDING',
  paid: 'PAYMENT_STATUS_PAID',
  failed: 'PAYMENT_STATUS_FAILED',
  cancelled: 'PAYMENT_STATUS_CANCELLED',
  expired: 'PAYMENT_STATUS_EXPIRED',
};

function makeGateway({ log, errors }) {
  let cfg = null; // {base, apiKey, secret}
  let host = null;
  let lastFailure = '';

  // api calls the gateway's API under the call's signal (the host's
  // deadline) and a 15 s bound of its own.
  async function api(method, path, body, key, signal) {
    const headers = { Authorization: 'Bearer ' + cfg.apiKey, 'Content-Type': 'application/json' };
    if (key) headers['Idempotency-Key'] = key;
    const signals = [AbortSignal.timeout(15000)];
    if (signal) signals.push(signal);
    let resp;
    try {
      resp = await fetch(cfg.base + path, { method, headers, body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.any(signals) });
    } catch (err) {
      if (signal && signal.aborted) throw errors.deadlineExceeded(`${method} ${path.split('?')[0]}: the host's deadline passed`);
      lastFailure = String(err.cause || err.message);
      throw errors.unavailable(`toypay API: ${lastFailure}`);
    }
    const text = await resp.text();
    if (resp.status === 404) throw errors.unknownOrder(`toypay has no payment at ${path.split('?')[0]}`);
    if (resp.status < 200 || resp.status > 299) {
      lastFailure = `HTTP ${resp.status}`;
      throw errors.unavailable(`toypay API answered ${resp.status}`);
    }
    lastFailure = '';
    try {
      return JSON.parse(text);
    } catch {
      throw errors.unavailable('toypay API answered unreadable JSON');
    }
  }

  function toPayment(p) {
    return {
      id: p.id,
      order_id: p.order_id,
      status: STATUSES[p.status] || 'PAYMENT_STATUS_PENDING', // an unknown word is never paid
      amount: { amount: String(p.amount), currency: p.currency },
      gateway_status: p.status,
    };
  }

  function configured() {
    if (!cfg) throw errors.failedPrecondition(`${NAME} is not configured: set base_url, api_key and webhook_secret in its settings`);
    return cfg;
  }

  async function getPayment(req, signal) {
    configured();
    let path;
    if (req.id) path = '/v1/payments/' + encodeURIComponent(req.id);
    else if (req.order_id) path = '/v1/payments?order_id=' + encodeURIComponent(req.order_id);
    else throw errors.invalidArgument("give the payment's id or its order id");
    return toPayment(await api('GET', path, null, '', signal));
  }

  function header(httpReq, name) {
    const h = (httpReq.headers || []).find((x) => x.name.toLowerCase() === name.toLowerCase());
    return h && h.values.length ? h.values[0] : '';
  }

  return {
    describe: () => ({ name: NAME, version: VERSION, kind: 'payment', description: 'The toy gateway in Node.js' }),

    configure: (raw, hostService, dataDir) => {
      let s;
      try {
        s = JSON.parse(raw.length ? raw.toString() : '{}');
      } catch (err) {
        throw errors.invalidArgument('settings are not JSON: ' + err.message);
      }
      const problems = [];
      for (const k of Object.keys(s)) if (!SETTINGS.includes(k)) problems.push(`unknown setting ${JSON.stringify(k)}`);
      let url;
      try {
        url = new URL(s.base_url || '');
      } catch {
        url = null;
      }
      const loopback = url && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
      if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback))) problems.push('base_url must be an https URL (http only for loopback addresses)');
      if (!s.api_key) problems.push('api_key is required');
      if (typeof s.webhook_secret !== 'string' || s.webhook_secret.length < 16) problems.push('webhook_secret must be at least 16 characters');
      if (problems.length) throw errors.invalidArgument('settings: ' + problems.join('; '));
      cfg = { base: s.base_url.replace(/\/+$/, ''), apiKey: s.api_key, secret: s.webhook_secret };
      host = hostService;
      log.info('configured', { base_url: cfg.base, data_dir: dataDir, host_service: Boolean(host) });
      return { warnings: host ? [] : ['the host offered no host service: replay records cannot be kept'] };
    },

    checkHealth: () => {
      if (!cfg) return { status: 'HEALTH_STATUS_DEGRADED', message: 'not configured' };
      if (lastFailure) return { status: 'HEALTH_STATUS_DEGRADED', message: 'the last call to toypay failed: ' + lastFailure };
      return { status: 'HEALTH_STATUS_OK', message: 'ready' };
    },

    createPayment: async (req, call) => {
      const problems = [];
      const amount = Number(req.amount ? req.amount.amount : 0);
      const currency = req.amount ? req.amount.currency : '';
      if (!req.order_id || !req.order_id.trim()) problems.push('order_id is required');
      if (!(amount > 0)) problems.push(`amount must be positive, got ${amount}`);
      if (!/^[A-Z]{3}$/.test(currency)) problems.push(`currency must be a 3-letter ISO 4217 code in upper case, got ${JSON.stringify(currency)}`);
      if (!req.idempotency_key) problems.push('idempotency_key is required');
      if (problems.length) throw errors.invalidArgument(problems.join('; '));
      if (!CURRENCIES.includes(currency)) throw errors.unsupportedCurrency(`toypay takes ${CURRENCIES.join(', ')}, not ${currency}`);
      configured();
      const p = await api('POST', '/v1/payments', { order_id: req.order_id, amount, currency }, req.idempotency_key, call.signal);
      log.info('payment created', { order: p.order_id, payment: p.id });
      return { payment: toPayment(p) };
    },

    getPayment: async (req, call) => ({ payment: await getPayment(req, call.signal) }),

    // handleWebhook: verify the signature over the raw body first, parse,
    // look up the replay record, confirm with the status API, check the
    // amount, and record the notification once it counted.
    handleWebhook: async (req, call) => {
      const { secret } = configured();
      const httpReq = req.request || {};
      const body = Buffer.from(httpReq.body || '');
      const got = Buffer.from(header(httpReq, 'X-Toy-Signature'), 'hex');
      const want = crypto.createHmac('sha256', secret).update(body).digest();
      if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) {
        log.warn('webhook signature refused', { remote: httpReq.remote_addr });
        throw errors.invalidSignature('X-Toy-Signature is missing or does not match the body');
      }
      let n;
      try {
        n = JSON.parse(body.toString());
      } catch {
        throw errors.malformed('the body is not a toypay notification');
      }
      if (!n || typeof n.event_id !== 'string' || !n.event_id || typeof n.payment_id !== 'string' || !n.payment_id) {
        throw errors.malformed('a toypay notification needs event_id and payment_id');
      }
      const ok = { status_code: 200, headers: [{ name: 'Content-Type', values: ['application/json'] }], body: Buffer.from('{"received":true}') };
      const notified = { amount: String(n.amount), currency: n.currency };
      const key = 'event:' + n.event_id;
      if (host) {
        const seen = await host.storeGet(key, call.signal);
        if (seen !== null && seen !== n.payment_id) throw errors.replay(`notification ${n.event_id} was about payment ${seen}, not ${n.payment_id}`);
        if (seen !== null) {
          log.info('webhook repeated', { event: n.event_id, payment: n.payment_id });
          return {
            response: ok,
            event: { event_id: n.event_id, payment_id: n.payment_id, order_id: n.order_id, status: STATUSES[n.status] || 'PAYMENT_STATUS_PENDING', amount: notified, gateway_status: n.status, raw: body, duplicate: true },
          };
        }
      }
      const p = await getPayment({ id: n.payment_id }, call.signal);
      if (p.amount.amount !== notified.amount || p.amount.currency !== notified.currency) {
        throw errors.amountMismatch(`notification ${n.event_id} says ${notified.amount} ${notified.currency}, payment ${p.id} is ${p.amount.amount} ${p.amount.currency}`);
      }
      if (n.status === 'paid' && p.status !== 'PAYMENT_STATUS_PAID') {
        throw errors.unconfirmed(`notification ${n.event_id} says payment ${p.id} is paid, toypay's status API says ${p.gateway_status}`);
      }
      let duplicate = false;
      if (host && p.status === 'PAYMENT_STATUS_PAID') {
        duplicate = !(await host.storeSet(key, n.payment_id, REPLAY_TTL_SECONDS, true, call.signal));
      }
      log.info('webhook accepted', { event: n.event_id, payment: p.id, order: p.order_id, status: p.status, duplicate });
      return {
        response: ok,
        event: { event_id: n.event_id, payment_id: p.id, order_id: p.order_id, status: p.status, amount: p.amount, confirmed: true, gateway_status: p.gateway_status, raw: body, duplicate },
      };
    },
  };
}

module.exports = { makeGateway, NAME, VERSION };
