// A WebSocket that reconnects by itself, with exponential back-off and jitter.
//
// The conversation socket is stateless on the server side (a snapshot on connect, then
// deltas), so reconnecting is always safe: the page re-syncs from the snapshot.

const CLOSE_NOT_AUTHENTICATED = 4401;
const CLOSE_NOT_FOUND = 4404;
// The back-off starts over only once a connection has stayed up this long: a server that
// accepts and then drops every socket must not be hammered once a second.
const STABLE_AFTER_MS = 5000;

export class ReconnectingSocket {
  /**
   * @param {string} url ws:// or wss:// URL
   * @param {object} handlers onOpen(), onMessage(data), onState(state), onFatal(code)
   *   state is one of "connecting", "open", "reconnecting", "offline".
   */
  constructor(url, { onOpen, onMessage, onState, onFatal, minDelay = 500, maxDelay = 15000 } = {}) {
    this.url = url;
    this.handlers = { onOpen, onMessage, onState, onFatal };
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.stableTimer = null;
    this.stopped = false;
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.state('offline');
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  /** Send a JSON frame; false when the socket is not open (the caller keeps it for later). */
  send(payload) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(payload));
    return true;
  }

  /** Drop the current connection (if any) and connect again at once. */
  reconnectNow() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      this.ws.onclose = null;
      this.ws.close();
    }
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.stableTimer);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
    }
  }

  state(value) {
    if (this.handlers.onState) this.handlers.onState(value);
  }

  connect() {
    this.state(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      clearTimeout(this.stableTimer);
      this.stableTimer = setTimeout(() => {
        this.attempt = 0;
      }, STABLE_AFTER_MS);
      this.state('open');
      if (this.handlers.onOpen) this.handlers.onOpen();
    };
    ws.onmessage = (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      if (this.handlers.onMessage) this.handlers.onMessage(data);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws || this.stopped) return;
      clearTimeout(this.stableTimer);
      if (event.code === CLOSE_NOT_AUTHENTICATED || event.code === CLOSE_NOT_FOUND) {
        this.stopped = true;
        if (this.handlers.onFatal) this.handlers.onFatal(event.code);
        return;
      }
      this.schedule();
    };
  }

  schedule() {
    const base = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this.state(navigator.onLine === false ? 'offline' : 'reconnecting');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
