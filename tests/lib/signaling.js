'use strict';
// A KVS signaling peer over `ws`: opens a presigned URL and speaks KVS's
// message shapes (action/messagePayload/recipientClientId out,
// messageType/messagePayload/senderClientId in).
const WebSocket = require('ws');

// Opens url; resolves with a peer, or rejects with err.status = the HTTP status
// the server answered instead of upgrading.
function open(url, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const inbox = [];
    const waiters = [];
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('signaling open timed out')); }, timeoutMs);
    ws.on('unexpected-response', (req, res) => {
      clearTimeout(timer);
      const err = new Error(`signaling refused with HTTP ${res.statusCode}`);
      err.status = res.statusCode;
      res.resume();
      ws.terminate();
      reject(err);
    });
    ws.on('error', (e) => { clearTimeout(timer); reject(e); });
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      const w = waiters.findIndex((x) => x.pred(msg));
      if (w >= 0) waiters.splice(w, 1)[0].resolve(msg);
      else inbox.push(msg);
    });
    ws.on('open', () => {
      clearTimeout(timer);
      resolve({
        ws,
        send(action, payloadObj, recipientClientId) {
          const m = { action, messagePayload: Buffer.from(JSON.stringify(payloadObj)).toString('base64') };
          if (recipientClientId !== undefined) m.recipientClientId = recipientClientId;
          ws.send(JSON.stringify(m));
        },
        next(pred = () => true, ms = 5000) {
          const i = inbox.findIndex(pred);
          if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
          return new Promise((res, rej) => {
            const t = setTimeout(() => rej(new Error('no signaling message')), ms);
            waiters.push({ pred, resolve: (m) => { clearTimeout(t); res(m); } });
          });
        },
        decode: (m) => JSON.parse(Buffer.from(m.messagePayload, 'base64').toString()),
        close: () => new Promise((r) => { if (ws.readyState === WebSocket.CLOSED) return r(); ws.once('close', r); ws.close(); }),
      });
    });
  });
}

module.exports = { open };
