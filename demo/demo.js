// kvsgate demo: a master or a viewer of a KVS WebRTC signaling channel, built
// the way a customer would build it with the official SDK (global KVSWebRTC),
// except that the page never holds AWS credentials. kvsgate answers, for the
// caller's bearer token, a ConnectionInfo (openapi.yaml): a presigned signaling
// URL valid `expiresAt`, and the ICE servers for `new RTCPeerConnection(...)`.
//
// The request signer fetches a fresh ConnectionInfo on every call. The SDK
// calls it on every SignalingClient.open(), so a reconnect after the URL's
// 299 s (idle timeout, GO_AWAY, a network drop) signs again instead of
// replaying an expired URL (the stale-URL bug of the widely copied
// CustomSigner, notes/KVS.md P6). Dropped signaling is reopened with backoff;
// a running peer connection keeps going meanwhile.
//
// A channel that records (WebRTC ingestion: ConnectionInfo has `storage`) has
// no peer-to-peer connections: with "Ingest media" on (the default), master
// and viewer open signaling, ask kvsgate to join KVS's storage session
// (POST .../storage-session, again every retryAfterSeconds until the offer
// comes, at most 5 times, as the official sample does), and answer the
// session's offer, which arrives without a sender id. The master then sends
// H.264 video and Opus audio; a viewer receives the master's video through
// the session.
//
// Tests drive the page through window.demo (start, stop, send, restartPeer,
// dropSignaling, state) and read data-* attributes on <body>: data-state (idle, starting,
// running, error, stopped), data-signaling (closed, connecting, open),
// data-peer (the viewer's RTCPeerConnection state; for the master "connected"
// once a viewer is), data-ice, data-datachannel, data-error (HTTP status),
// data-storage (off, joining, offered, failed).

const { SignalingClient, Role } = window.KVSWebRTC;
const $ = (id) => document.getElementById(id);
const ICE_REFRESH_MARGIN_MS = 15000;
const FETCH_TIMEOUT_MS = 10000;
const TOKEN_KEY = 'kvsgate-demo-token';
// The storage session's messages carry no sender id; its peer is kept under this one.
const STORAGE_PEER = 'STORAGE';
const STORAGE_MAX_JOINS = 5;

class KvsgateError extends Error {
  constructor(status, problem, message) {
    super(message);
    this.status = status;
    this.problem = problem;
  }
}

const S = {
  status: 'idle',
  config: null,         // { role, kvsgate, channel, token, clientId, sendVideo, ingest }
  info: null,           // the latest ConnectionInfo
  client: null,         // KVSWebRTC.SignalingClient
  signaling: 'closed',
  signalingOpens: 0,
  peers: new Map(),     // remote id ('MASTER' on a viewer) -> { pc, dc, video }
  pending: new Map(),   // remote id -> ICE candidates that came before its description
  offers: new Map(),    // viewer id -> number of its latest offer (master)
  localStream: null,
  fetches: [],          // every ConnectionInfo request: { purpose, at, status, url, expiresAt }
  messages: [],         // { dir: in|out|sys, from, text, at }
  error: null,          // { status, code, title, detail, message }
  retry: { attempt: 0, timer: null },
  generation: 0,        // bumps on stop(), so late callbacks of an old run do nothing
  storage: { mode: false, state: 'off', joins: 0, timer: null },
};

// ---------------------------------------------------------------- kvsgate

function infoPath(c) {
  const ch = encodeURIComponent(c.channel);
  if (c.role === 'master') return `/v1/channels/${ch}/master`;
  return `/v1/channels/${ch}/viewer${c.clientId ? `?clientId=${encodeURIComponent(c.clientId)}` : ''}`;
}

// GET the caller's ConnectionInfo from kvsgate. Throws KvsgateError with the
// HTTP status and the problem+json body when kvsgate refuses.
async function fetchInfo(purpose) {
  const c = S.config;
  const base = c.kvsgate.replace(/\/+$/, '');
  const record = { purpose, at: new Date().toISOString(), status: 0, url: null, expiresAt: null };
  S.fetches.push(record);
  render();
  let res;
  try {
    res = await fetch(base + infoPath(c), {
      headers: { authorization: `Bearer ${c.token}` },
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
  } catch (e) {
    if (e.name === 'TimeoutError') throw new KvsgateError(0, null, `kvsgate at ${base} did not answer in ${FETCH_TIMEOUT_MS / 1000} s`);
    throw new KvsgateError(0, null, `could not reach kvsgate at ${base} (is it running, and is ` +
      `${location.origin} in its KVSGATE_CORS_ORIGINS?)`);
  }
  record.status = res.status;
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  if (!res.ok) {
    const p = body || {};
    throw new KvsgateError(res.status, p, `kvsgate answered ${res.status}${p.code ? ` ${p.code}` : ''}` +
      `${p.detail ? `: ${p.detail}` : p.title ? `: ${p.title}` : ''}`);
  }
  record.url = body.url;
  record.expiresAt = body.expiresAt;
  S.info = body;
  render();
  return body;
}

// POST the storage-session join for the caller's role: the session offers
// over signaling afterwards. Returns the StorageJoin (202) or throws KvsgateError.
async function joinStorage() {
  const c = S.config;
  const ch = encodeURIComponent(c.channel);
  const path = c.role === 'master' ? `/v1/channels/${ch}/master/storage-session`
    : `/v1/channels/${ch}/viewer/storage-session${S.info && S.info.clientId ? `?clientId=${encodeURIComponent(S.info.clientId)}` : ''}`;
  const res = await fetch(c.kvsgate.replace(/\/+$/, '') + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${c.token}` },
    cache: 'no-store',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 202) {
    throw new KvsgateError(res.status, body, `kvsgate answered ${res.status}${body.code ? ` ${body.code}` : ''}` +
      `${body.detail ? `: ${body.detail}` : ''}`);
  }
  return body;
}

// Joins until the session's offer arrives (onStorageOffer stops it).
function storageJoinLoop(gen) {
  const st = S.storage;
  clearTimeout(st.timer);
  if (gen !== S.generation || st.state === 'offered' || S.signaling !== 'open') return;
  if (st.joins >= STORAGE_MAX_JOINS) {
    st.state = 'failed';
    note(`no offer from the storage session after ${st.joins} joins`);
    render();
    return;
  }
  st.joins++;
  st.state = 'joining';
  render();
  joinStorage().then((r) => {
    if (gen !== S.generation) return;
    note(`asked to join the storage session (${st.joins}); waiting for its offer`);
    st.timer = setTimeout(() => storageJoinLoop(gen), (r.retryAfterSeconds || 6) * 1000);
  }, (e) => {
    if (gen !== S.generation) return;
    note(`storage session: ${e.message}`);
    const retry = e.status === 429 || e.status === 503 || e.status === 0;
    if (!retry) { st.state = 'failed'; render(); return; }
    st.timer = setTimeout(() => storageJoinLoop(gen), 6000);
  });
}

// ICE servers for a new peer connection: the latest ones while their TURN
// credentials live, else fetched again (TURN credentials expire, P8).
async function iceConfiguration() {
  if (S.info && Date.parse(S.info.iceServersExpireAt) - Date.now() > ICE_REFRESH_MARGIN_MS) return S.info.configuration;
  return (await fetchInfo('ice')).configuration;
}

// ---------------------------------------------------------------- signaling

function createClient(info, gen) {
  const master = S.config.role === 'master';
  const client = new SignalingClient({
    role: master ? Role.MASTER : Role.VIEWER,
    clientId: master ? undefined : info.clientId,
    channelARN: info.channelArn,
    channelEndpoint: info.url.split('?')[0],
    region: info.region,
    // The whole point: no credentials here. Every open() asks kvsgate for a
    // URL signed just now.
    requestSigner: { getSignedURL: async () => (await fetchInfo('signaling')).url },
  });
  const live = (fn) => (...args) => { if (gen === S.generation) fn(...args); };
  client.on('open', live(onSignalingOpen));
  client.on('close', live(onSignalingClose));
  client.on('error', live(onSignalingError));
  client.on('statusResponse', live((r) => note(`signaling status: ${r.errorType || ''} ${r.description || ''}`)));
  client.on('iceCandidate', live(onRemoteCandidate));
  if (master || S.storage.mode) client.on('sdpOffer', live(onOffer));
  if (!master) client.on('sdpAnswer', live(onAnswer));
  return client;
}

function openSignaling() {
  S.retry.timer = null;
  setSignaling('connecting');
  try {
    S.client.open();
  } catch (e) {
    note(`signaling: ${e.message}`);
  }
}

function onSignalingOpen() {
  S.signalingOpens++;
  S.retry.attempt = 0;
  setSignaling('open');
  note(S.signalingOpens > 1 ? 'signaling reconnected with a fresh URL' : 'signaling open');
  if (S.storage.mode) {
    const peer = S.peers.get(STORAGE_PEER);
    if (!peer || peer.pc.connectionState !== 'connected') {
      S.storage.state = 'joining';
      S.storage.joins = 0;
      storageJoinLoop(S.generation);
    }
    return;
  }
  if (S.config.role === 'viewer') {
    const peer = S.peers.get('MASTER');
    // A connected peer does not need signaling: keep it across reconnects.
    if (!peer || peer.pc.connectionState !== 'connected') startViewerPeer().catch(fail);
  }
}

function onSignalingClose() {
  setSignaling('closed');
  if (S.status !== 'running') return;
  const delay = Math.min(30000, 1000 * 2 ** S.retry.attempt++);
  note(`signaling closed; reconnecting in ${delay / 1000} s with a fresh URL`);
  clearTimeout(S.retry.timer);
  S.retry.timer = setTimeout(openSignaling, delay);
}

function onSignalingError(err) {
  if (err instanceof KvsgateError) {
    // The signer could not get a URL. 401/403: the token no longer allows
    // this; retrying will not help. Otherwise retry like a dropped socket.
    if (err.status === 401 || err.status === 403) {
      showError(err);
      shutdown('error');
      return;
    }
    note(err.message);
  } else {
    note('signaling connection error');
  }
  // After a signer failure the SDK stays CONNECTING with no socket; close()
  // resets it and emits 'close', which schedules the retry.
  if (S.client && !S.client.websocket) S.client.close();
}

// ---------------------------------------------------------------- peers

function newPeer(id, configuration) {
  const pc = new RTCPeerConnection(configuration);
  const peer = { id, pc, dc: null, video: null };
  S.peers.set(id, peer);
  const gen = S.generation;
  pc.addEventListener('icecandidate', ({ candidate }) => {
    if (!candidate || gen !== S.generation || S.signaling !== 'open') return;
    try {
      if (S.config.role === 'master' && id !== STORAGE_PEER) S.client.sendIceCandidate(candidate, id);
      else S.client.sendIceCandidate(candidate);
    } catch (e) { note(`could not send an ICE candidate: ${e.message}`); }
  });
  pc.addEventListener('connectionstatechange', () => {
    if (gen !== S.generation) return;
    render();
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
      note(`peer ${id}: ${pc.connectionState}`);
      if (id === STORAGE_PEER) {
        dropPeer(id);
        if (S.signaling === 'open') { S.storage.state = 'joining'; S.storage.joins = 0; storageJoinLoop(S.generation); }
      } else if (S.config.role === 'master') dropPeer(id);
      else if (S.signaling === 'open' && S.peers.get(id) === peer) startViewerPeer().catch(fail);
    }
  });
  pc.addEventListener('iceconnectionstatechange', () => render());
  pc.addEventListener('track', (e) => {
    const stream = e.streams[0] || new MediaStream([e.track]);
    if (S.config.role === 'viewer') {
      $('remote-video').srcObject = stream;
    } else if (id === STORAGE_PEER) {
      /* the storage session sends the master nothing to show */
    } else {
      peer.video = viewerTile(id);
      peer.video.srcObject = stream;
    }
  });
  return peer;
}

function attachChannel(peer, dc) {
  peer.dc = dc;
  dc.addEventListener('open', () => { render(); note(`data channel open${S.config.role === 'master' ? ` with ${peer.id}` : ''}`); });
  dc.addEventListener('close', () => render());
  dc.addEventListener('message', (e) => {
    addMessage('in', S.config.role === 'master' ? peer.id : 'master', String(e.data));
  });
}

function dropPeer(id) {
  const peer = S.peers.get(id);
  if (!peer) return;
  S.peers.delete(id);
  try { peer.pc.close(); } catch { /* closed */ }
  if (peer.video) peer.video.closest('figure').remove();
  render();
}

function addLocalTracks(pc) {
  if (!S.localStream) return false;
  for (const track of S.localStream.getTracks()) pc.addTrack(track, S.localStream);
  return true;
}

// Viewer: offer to the master, receive its video, open the chat channel.
async function startViewerPeer() {
  dropPeer('MASTER');
  S.pending.set('MASTER', []);
  const peer = newPeer('MASTER', await iceConfiguration());
  attachChannel(peer, peer.pc.createDataChannel('chat'));
  if (!addLocalTracks(peer.pc)) peer.pc.addTransceiver('video', { direction: 'recvonly' });
  const offer = await peer.pc.createOffer();
  await peer.pc.setLocalDescription(offer);
  S.client.sendSdpOffer(peer.pc.localDescription);
  note('offer sent to the master');
}

async function onAnswer(answer) {
  const peer = S.peers.get('MASTER');
  if (!peer || peer.pc.signalingState !== 'have-local-offer') return;
  await peer.pc.setRemoteDescription(answer);
  flushCandidates('MASTER', peer);
  render();
}

// Master: one peer connection per viewer, created on its offer; in storage
// mode (master or viewer) the one to the storage session, whose offer comes
// without a sender id.
async function onOffer(offer, senderId) {
  const storage = S.storage.mode && !senderId;
  const viewerId = storage ? STORAGE_PEER : senderId;
  if (storage) {
    S.storage.state = 'offered';
    clearTimeout(S.storage.timer);
    render();
  }
  // The SDK hands over the viewer's early candidates right after this
  // returns to it, before the peer connection below exists: they wait in
  // S.pending until the offer is set.
  dropPeer(viewerId);
  S.pending.set(viewerId, []);
  const seq = (S.offers.get(viewerId) || 0) + 1;
  S.offers.set(viewerId, seq);
  const configuration = await iceConfiguration();
  if (S.offers.get(viewerId) !== seq) return; // a newer offer from this viewer came meanwhile
  const peer = newPeer(viewerId, configuration);
  peer.pc.addEventListener('datachannel', (e) => attachChannel(peer, e.channel));
  await peer.pc.setRemoteDescription(offer);
  if (storage) sendToStorage(peer.pc);
  else addLocalTracks(peer.pc);
  flushCandidates(viewerId, peer);
  await peer.pc.setLocalDescription(await peer.pc.createAnswer());
  if (storage) S.client.sendSdpAnswer(peer.pc.localDescription);
  else S.client.sendSdpAnswer(peer.pc.localDescription, viewerId);
  note(storage ? 'answered the storage session' : `answered viewer ${viewerId}`);
}

// The master's camera and microphone into the session's transceivers (H.264
// and Opus, what ingestion records); a viewer only receives.
function sendToStorage(pc) {
  for (const t of pc.getTransceivers()) {
    const kind = t.receiver.track && t.receiver.track.kind;
    if (S.config.role !== 'master') { t.direction = 'recvonly'; continue; }
    const track = S.localStream && S.localStream.getTracks().find((x) => x.kind === kind);
    if (track) {
      t.sender.replaceTrack(track);
      t.direction = 'sendonly';
      if (kind === 'video' && RTCRtpSender.getCapabilities) {
        const h264 = RTCRtpSender.getCapabilities('video').codecs.filter((c) => /h264/i.test(c.mimeType));
        if (h264.length) try { t.setCodecPreferences(h264); } catch { /* the offer decides */ }
      }
    }
  }
}

function onRemoteCandidate(candidate, senderId) {
  const id = S.storage.mode && !senderId ? STORAGE_PEER : S.config.role === 'master' ? senderId : 'MASTER';
  const peer = S.peers.get(id);
  if (!peer || !peer.pc.remoteDescription) {
    if (!S.pending.has(id)) S.pending.set(id, []);
    S.pending.get(id).push(candidate);
    return;
  }
  peer.pc.addIceCandidate(candidate).catch((e) => note(`ICE candidate refused: ${e.message}`));
}

function flushCandidates(id, peer) {
  const queued = S.pending.get(id) || [];
  S.pending.delete(id);
  for (const c of queued) peer.pc.addIceCandidate(c).catch((e) => note(`ICE candidate refused: ${e.message}`));
}

// ---------------------------------------------------------------- lifecycle

function readForm() {
  const f = $('connect');
  return {
    role: f.elements.role.value,
    kvsgate: $('kvsgate').value.trim(),
    channel: $('channel').value.trim(),
    token: $('token').value.trim(),
    clientId: $('clientId').value.trim(),
    sendVideo: $('sendVideo').checked,
    ingest: $('ingest').checked,
  };
}

function fillForm(c) {
  if (c.role) $('connect').elements.role.value = c.role;
  showRoleOptions();
  if (c.kvsgate) $('kvsgate').value = c.kvsgate;
  if (c.channel) $('channel').value = c.channel;
  if (c.token) $('token').value = c.token;
  if (c.clientId !== undefined) $('clientId').value = c.clientId;
  if (c.sendVideo !== undefined) $('sendVideo').checked = !!c.sendVideo;
  if (c.ingest !== undefined) $('ingest').checked = !!c.ingest;
}

// Starts as master or viewer. Options override the form's values. Resolves
// { ok: true } once signaling is being opened, or { ok: false, status, code,
// message } when kvsgate refused (then no signaling connection is made).
async function start(options = {}) {
  if (S.status === 'starting' || S.status === 'running') await stop();
  fillForm(options);
  const c = readForm();
  if (!c.token) return failStart(new KvsgateError(0, null, 'paste a bearer token first'));
  if (!c.kvsgate || !c.channel) return failStart(new KvsgateError(0, null, 'kvsgate URL and channel are required'));
  sessionStorage.setItem(TOKEN_KEY, c.token);
  S.config = c;
  S.error = null;
  S.fetches = [];
  S.signalingOpens = 0;
  S.retry.attempt = 0;
  const gen = ++S.generation;
  setStatus('starting');
  // The master shows its camera and one tile per viewer that sends one back.
  $('remote-tile').hidden = c.role === 'master';
  let info;
  try {
    info = await fetchInfo('start');
  } catch (e) {
    if (gen === S.generation) return failStart(e);
    return { ok: false, message: 'stopped' };
  }
  if (gen !== S.generation) return { ok: false, message: 'stopped' };
  $('st-client').textContent = info.clientId || '(master)';
  S.storage = { mode: Boolean(info.storage && info.storage.enabled && c.ingest), state: 'off', joins: 0, timer: null };
  if (info.storage && !c.ingest) note('the channel records to a stream, but "Ingest media" is off: peers cannot connect');
  if (S.storage.mode) note(`the channel records to ${info.storage.streamArn}: joining its storage session`);
  if (c.role === 'master' || (c.sendVideo && !S.storage.mode)) {
    try {
      // Ingestion records H.264 video and Opus audio: the master sends both.
      S.localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: S.storage.mode });
      $('local-video').srcObject = S.localStream;
      $('local-tile').hidden = false;
    } catch (e) {
      note(`no camera (${e.name}); continuing without sending video`);
    }
  }
  if (gen !== S.generation) return { ok: false, message: 'stopped' };
  S.client = createClient(info, gen);
  setStatus('running');
  openSignaling();
  return { ok: true };
}

function failStart(err) {
  showError(err);
  setStatus('error');
  return { ok: false, status: err.status, code: err.problem && err.problem.code, message: err.message };
}

function shutdown(status) {
  S.generation++;
  clearTimeout(S.retry.timer);
  clearTimeout(S.storage.timer);
  S.storage = { mode: false, state: 'off', joins: 0, timer: null };
  S.retry.timer = null;
  if (S.client) {
    try { S.client.close(); } catch { /* closed */ }
    S.client.removeAllListeners();
    S.client = null;
  }
  for (const id of [...S.peers.keys()]) dropPeer(id);
  S.pending.clear();
  if (S.localStream) S.localStream.getTracks().forEach((t) => t.stop());
  S.localStream = null;
  $('local-video').srcObject = null;
  $('local-tile').hidden = true;
  $('remote-tile').hidden = false;
  $('remote-video').srcObject = null;
  setSignaling('closed');
  setStatus(status);
}

async function stop() {
  shutdown('stopped');
  note('stopped');
}

function send(text) {
  text = String(text || '').trim();
  if (!text) return 0;
  let sent = 0;
  for (const peer of S.peers.values()) {
    if (peer.dc && peer.dc.readyState === 'open') {
      peer.dc.send(text);
      sent++;
    }
  }
  if (sent) addMessage('out', 'me', text);
  else note('no open data channel yet');
  return sent;
}

// Viewer: a new peer connection, negotiated over the current signaling
// connection (what the page does on its own when the old one failed).
async function restartPeer() {
  if (!S.config || S.config.role !== 'viewer' || S.signaling !== 'open') return false;
  await startViewerPeer();
  return true;
}

// The ICE candidate pair in use with a peer ('MASTER' on a viewer; on the
// master a viewer's id, default the first): { local, remote } with
// candidateType, address, port, protocol; null before one is selected.
async function selectedPair(id) {
  const peer = id ? S.peers.get(id) : S.peers.values().next().value;
  if (!peer) return null;
  const stats = await peer.pc.getStats();
  let pair = null;
  stats.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
  });
  if (!pair) stats.forEach((r) => { if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r; });
  if (!pair) return null;
  const pick = (c) => c && { candidateType: c.candidateType, address: c.address, port: c.port, protocol: c.protocol };
  return { local: pick(stats.get(pair.localCandidateId)), remote: pick(stats.get(pair.remoteCandidateId)) };
}

// Test hook: closes the signaling WebSocket under the SDK, as a network drop
// or the server's close after GO_AWAY would. The page then reopens it.
function dropSignaling() {
  if (S.client && S.client.websocket) S.client.websocket.close();
}

function snapshot() {
  const peers = {};
  for (const [id, p] of S.peers) {
    peers[id] = {
      connectionState: p.pc.connectionState,
      iceConnectionState: p.pc.iceConnectionState,
      dataChannel: p.dc ? p.dc.readyState : 'none',
    };
  }
  return JSON.parse(JSON.stringify({
    status: S.status,
    role: S.config && S.config.role,
    clientId: S.info && S.info.clientId,
    signaling: S.signaling,
    signalingOpens: S.signalingOpens,
    storage: { mode: S.storage.mode, state: S.storage.state, joins: S.storage.joins },
    peers,
    fetches: S.fetches,
    messages: S.messages,
    error: S.error,
  }));
}

// ---------------------------------------------------------------- view

function setStatus(s) { S.status = s; render(); }
function setSignaling(s) { S.signaling = s; render(); }

function note(text) {
  $('notice').textContent = text;
  S.messages.push({ dir: 'sys', from: '', text, at: new Date().toISOString() });
  if (S.messages.length > 500) S.messages.shift();
  const li = document.createElement('li');
  li.className = 'sys';
  li.textContent = text;
  appendLog(li);
}

function addMessage(dir, from, text) {
  S.messages.push({ dir, from, text, at: new Date().toISOString() });
  const li = document.createElement('li');
  const who = document.createElement('span');
  who.className = 'from';
  who.textContent = `${from}: `;
  li.append(who, document.createTextNode(text));
  appendLog(li);
}

function appendLog(li) {
  const log = $('chat-log');
  log.append(li);
  while (log.children.length > 200) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}

function showError(err) {
  const p = err.problem || {};
  S.error = { status: err.status, code: p.code || null, title: p.title || null, detail: p.detail || null, message: err.message };
  $('error').textContent = err.message;
  $('error').hidden = false;
  render();
}

function fail(err) {
  note(`error: ${err && err.message ? err.message : err}`);
}

function viewerTile(id) {
  const existing = document.getElementById(`viewer-video-${id}`);
  if (existing) return existing;
  const fig = document.createElement('figure');
  const video = document.createElement('video');
  video.id = `viewer-video-${id}`;
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true;
  video.setAttribute('aria-label', `Camera of viewer ${id}`);
  const cap = document.createElement('figcaption');
  cap.textContent = `Viewer ${id}`;
  fig.append(video, cap);
  $('tiles').append(fig);
  return video;
}

const TONE = { open: 'ok', connected: 'ok', completed: 'ok', connecting: 'warn', checking: 'warn', new: 'warn',
  disconnected: 'warn', closed: '', failed: 'bad', none: '' };

function setCell(id, text, tone) {
  const el = $(id);
  el.textContent = text;
  if (tone) el.dataset.tone = tone; else delete el.dataset.tone;
}

function render() {
  const b = document.body.dataset;
  const master = S.config && S.config.role === 'master';
  const peers = [...S.peers.values()];
  let peerState = 'none';
  let iceState = 'none';
  let dcState = 'none';
  let peerText = 'none';
  if (master) {
    const up = peers.filter((p) => p.pc.connectionState === 'connected');
    peerState = up.length ? 'connected' : peers.length ? peers[0].pc.connectionState : 'none';
    iceState = up.length ? up[0].pc.iceConnectionState : peers.length ? peers[0].pc.iceConnectionState : 'none';
    dcState = peers.some((p) => p.dc && p.dc.readyState === 'open') ? 'open' : 'none';
    peerText = peers.length ? `${up.length} of ${peers.length} viewer(s) connected` +
      (peers.length ? ` (${peers.map((p) => `${p.id}: ${p.pc.connectionState}`).join(', ')})` : '') : 'waiting for viewers';
  } else if (peers.length) {
    peerState = peers[0].pc.connectionState;
    iceState = peers[0].pc.iceConnectionState;
    dcState = peers[0].dc ? peers[0].dc.readyState : 'none';
    peerText = peerState;
  }
  b.state = S.status;
  b.signaling = S.signaling;
  b.peer = peerState;
  b.ice = iceState;
  b.datachannel = dcState;
  b.peers = String(peers.filter((p) => p.pc.connectionState === 'connected').length);
  b.storage = S.storage.state;
  setCell('st-storage', S.storage.mode ? `${S.storage.state} (${S.storage.joins} join${S.storage.joins === 1 ? '' : 's'})` : 'peer to peer',
    S.storage.state === 'offered' ? 'ok' : S.storage.state === 'failed' ? 'bad' : S.storage.mode ? 'warn' : '');
  if (S.error && S.error.status) b.error = String(S.error.status); else delete b.error;
  if (!S.error) $('error').hidden = true;

  setCell('st-signaling', S.signaling, TONE[S.signaling]);
  setCell('st-peer', peerText, TONE[peerState]);
  setCell('st-ice', iceState, TONE[iceState]);
  const last = [...S.fetches].reverse().find((f) => f.expiresAt);
  setCell('st-expires', last ? new Date(last.expiresAt).toLocaleTimeString() : '-');
  setCell('st-fetches', String(S.fetches.filter((f) => f.status === 200).length));
  const running = S.status === 'starting' || S.status === 'running';
  $('start').disabled = running;
  $('stop').disabled = !running;
  $('chat-input').disabled = dcState !== 'open';
  $('chat-send').disabled = dcState !== 'open';
  $('clientId').disabled = running;
}

// ---------------------------------------------------------------- wiring

// Settings from the link's fragment (never sent to any server):
//   #kvsgate=http://127.0.0.1:8080&channel=demo&role=viewer&token=JWT[&clientId=..][&sendVideo=1][&ingest=0][&start=1]
// The token is moved out of the address bar into this tab's sessionStorage.
function fromFragment() {
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  const c = {};
  for (const k of ['kvsgate', 'channel', 'role', 'token', 'clientId']) if (h.has(k)) c[k] = h.get(k);
  if (h.has('sendVideo')) c.sendVideo = h.get('sendVideo') === '1';
  if (h.has('ingest')) c.ingest = h.get('ingest') === '1';
  if (!c.token) c.token = sessionStorage.getItem(TOKEN_KEY) || undefined;
  if (h.has('token')) {
    sessionStorage.setItem(TOKEN_KEY, h.get('token'));
    h.delete('token');
    const rest = h.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  }
  fillForm(c);
  return h.get('start') === '1';
}

function showRoleOptions() {
  $('viewer-options').hidden = $('connect').elements.role.value !== 'viewer';
}
for (const r of $('connect').elements.role) r.addEventListener('change', showRoleOptions);

$('connect').addEventListener('submit', (e) => {
  e.preventDefault();
  start();
});
$('stop').addEventListener('click', () => stop());
$('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (send($('chat-input').value)) $('chat-input').value = '';
});

window.demo = {
  start,
  stop,
  send,
  dropSignaling,
  restartPeer,
  selectedPair,
  state: snapshot,
  get signalingClient() { return S.client; },
};

render();
if (fromFragment()) start();
