'use strict';
// The storage peer of WebRTC ingestion: what KVS's media server does once a
// channel records into a stream and a participant calls JoinStorageSession
// (the master) or JoinStorageSessionAsViewer (a viewer). It is a real WebRTC
// endpoint (werift, a WebRTC stack in TypeScript from npm: no native code, so
// it runs wherever Node does, and it speaks DTLS-SRTP with Chromium), and it
// drives the participants as KVS does (kinesisvideostreams-webrtc-dg,
// "ingest-media", "troubleshoot-establish-storage"):
//   - on a join it sends the participant an SDP offer over the participant's
//     own signaling WebSocket, as an SDP_OFFER message without senderClientId;
//     the participant answers (SDP_ANSWER) and trickles ICE candidates on the
//     same socket, with no recipientClientId;
//   - the master's offer asks for H.264 video and Opus audio from it
//     (recvonly); a viewer's offer sends it the master's video (sendonly: the
//     media server forwards the master's RTP, asking the master for a key
//     frame when a viewer connects) and takes its audio;
//   - a join while the participant is not connected is answered (the API is
//     asynchronous) but sends nothing; a new join replaces that participant's
//     session ("the most recent request takes precedence"); sessions end after
//     sessionMaxMs (an hour, as KVS) or when storage is disabled.
// What it receives is counted (video packets and frames, audio packets) and
// what it forwards too: the test API's /_emulator/channels/{name}/storage.

const { RTCPeerConnection, RtpPacket, useH264, useOPUS } = require('werift');

const GATHER_TIMEOUT_MS = 2000;

function b64json(value) {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

class MediaServer {
  // options: {log, sessionMaxMs, send(conn, message)}
  constructor(options) {
    Object.assign(this, options);
    this.sessions = new Map(); // channel arn -> {master, viewers: Map, timer}
  }

  session(channel) {
    let s = this.sessions.get(channel.arn);
    if (!s) {
      s = { master: null, viewers: new Map(), timer: null, startedMs: Date.now() };
      s.timer = setTimeout(() => this.closeChannel(channel, 'the storage session lasted its hour'), this.sessionMaxMs);
      s.timer.unref();
      this.sessions.set(channel.arn, s);
    }
    return s;
  }

  viewerCount(channel) {
    const s = this.sessions.get(channel.arn);
    return s ? s.viewers.size : 0;
  }

  hasViewer(channel, clientId) {
    const s = this.sessions.get(channel.arn);
    return Boolean(s && s.viewers.has(clientId));
  }

  // A join: an offer to the participant, if it is connected to signaling.
  async join(channel, role, clientId) {
    const conn = role === 'master' ? channel.master : channel.viewers.get(clientId);
    if (!conn) {
      this.log.info('storage join without a signaling connection: no offer sent', { channel: channel.name, role });
      return;
    }
    const s = this.session(channel);
    const old = role === 'master' ? s.master : s.viewers.get(clientId);
    if (old) this.closePeer(old);
    const peer = this.newPeer(channel, role, clientId, conn);
    if (role === 'master') s.master = peer;
    else s.viewers.set(clientId, peer);
    try {
      const offer = await peer.pc.createOffer();
      await peer.pc.setLocalDescription(offer);
      await this.gathered(peer.pc);
      if (peer.closed) return;
      this.send(conn, { messageType: 'SDP_OFFER', messagePayload: b64json({ type: 'offer', sdp: peer.pc.localDescription.sdp }) });
      peer.offers++;
    } catch (err) {
      this.log.error('storage offer failed', { channel: channel.name, role, error: err.message });
    }
  }

  newPeer(channel, role, clientId, conn) {
    const pc = new RTCPeerConnection({ codecs: { video: [useH264()], audio: [useOPUS()] } });
    const peer = {
      role, clientId, conn, pc, state: 'new', offers: 0, closed: false,
      videoPackets: 0, videoFrames: 0, audioPackets: 0, videoPacketsSent: 0, answer: null,
    };
    if (role === 'master') {
      peer.video = pc.addTransceiver('video', { direction: 'recvonly' });
      peer.audio = pc.addTransceiver('audio', { direction: 'recvonly' });
      peer.video.onTrack.subscribe((track) => {
        peer.videoSsrc = track.ssrc;
        track.onReceiveRtp.subscribe((rtp) => this.onMasterVideo(channel, peer, rtp));
      });
      peer.audio.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => { peer.audioPackets++; }));
    } else {
      peer.video = pc.addTransceiver('video', { direction: 'sendonly' });
      peer.audio = pc.addTransceiver('audio', { direction: 'recvonly' });
      peer.audio.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => { peer.audioPackets++; }));
    }
    pc.connectionStateChange.subscribe((state) => {
      peer.state = state;
      this.log.info('storage peer state', { channel: channel.name, role, state });
      if (state === 'connected' && role === 'viewer') this.askKeyFrame(channel);
    });
    return peer;
  }

  gathered(pc) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, GATHER_TIMEOUT_MS);
      pc.iceGatheringStateChange.subscribe((state) => {
        if (state === 'complete') {
          clearTimeout(t);
          resolve();
        }
      });
    });
  }

  onMasterVideo(channel, peer, rtp) {
    peer.videoPackets++;
    if (rtp.header.marker) peer.videoFrames++;
    const s = this.sessions.get(channel.arn);
    if (!s) return;
    for (const v of s.viewers.values()) {
      if (v.state !== 'connected') continue;
      v.video.sender.sendRtp(RtpPacket.deSerialize(rtp.serialize())).catch(() => {});
      v.videoPacketsSent++;
    }
  }

  askKeyFrame(channel) {
    const s = this.sessions.get(channel.arn);
    const m = s && s.master;
    if (m && m.state === 'connected' && m.videoSsrc !== undefined) {
      m.video.receiver.sendRtcpPLI(m.videoSsrc).catch(() => {});
    }
  }

  // A participant's message in storage mode (SDP_ANSWER, ICE_CANDIDATE);
  // false when no storage session of that participant exists.
  onMessage(channel, role, clientId, action, payload) {
    const s = this.sessions.get(channel.arn);
    const peer = s && (role === 'master' ? s.master : s.viewers.get(clientId));
    if (!peer || peer.closed) return false;
    let value;
    try {
      value = JSON.parse(Buffer.from(payload, 'base64').toString('utf8'));
    } catch (e) {
      this.log.warn('storage message is not base64 JSON', { channel: channel.name, role, action });
      return true;
    }
    if (action === 'SDP_ANSWER') {
      peer.answer = typeof value.sdp === 'string' ? value.sdp : null;
      peer.pc.setRemoteDescription({ type: 'answer', sdp: peer.answer || '' }).catch((err) => {
        this.log.warn('storage answer refused', { channel: channel.name, role, error: err.message });
      });
    } else if (action === 'ICE_CANDIDATE' && value && typeof value.candidate === 'string' && value.candidate) {
      peer.pc.addIceCandidate(value).catch(() => {});
    }
    return true;
  }

  stats(channel) {
    const s = this.sessions.get(channel.arn);
    const peerStats = (p) => ({
      state: p.state, offers: p.offers, videoPackets: p.videoPackets, videoFrames: p.videoFrames,
      audioPackets: p.audioPackets, videoPacketsSent: p.videoPacketsSent,
      answerCodecs: p.answer ? [...new Set((p.answer.match(/a=rtpmap:\d+ ([A-Za-z0-9-]+)\//g) || [])
        .map((l) => l.split(' ')[1].split('/')[0].toLowerCase()))] : [],
    });
    return {
      storage: channel.storage,
      master: s && s.master ? peerStats(s.master) : null,
      viewers: s ? [...s.viewers.entries()].map(([clientId, p]) => ({ clientId, ...peerStats(p) })) : [],
    };
  }

  // A participant left signaling: its storage peer goes too.
  leave(channel, role, clientId) {
    const s = this.sessions.get(channel.arn);
    if (!s) return;
    const peer = role === 'master' ? s.master : s.viewers.get(clientId);
    if (!peer || peer.conn.ws.readyState === peer.conn.ws.OPEN) return;
    this.closePeer(peer);
    if (role === 'master') s.master = null;
    else s.viewers.delete(clientId);
  }

  closePeer(peer) {
    peer.closed = true;
    Promise.resolve(peer.pc.close()).catch(() => {});
  }

  closeChannel(channel, reason) {
    const s = this.sessions.get(channel.arn);
    if (!s) return;
    this.sessions.delete(channel.arn);
    clearTimeout(s.timer);
    if (s.master) this.closePeer(s.master);
    for (const v of s.viewers.values()) this.closePeer(v);
    this.log.info('storage session closed', { channel: channel.name, reason });
  }

  closeAll() {
    for (const arn of [...this.sessions.keys()]) {
      const s = this.sessions.get(arn);
      this.sessions.delete(arn);
      clearTimeout(s.timer);
      if (s.master) this.closePeer(s.master);
      for (const v of s.viewers.values()) this.closePeer(v);
    }
  }
}

module.exports = { MediaServer };
