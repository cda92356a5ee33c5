// Kaiwa API client for programs (browser or Node 18+): chat, streamed chat over SSE, and
// resuming a reply's stream with Last-Event-ID. No dependencies, no build step.
//
//   import { KaiwaClient } from '/static/kaiwa/client.js';
//   const kaiwa = new KaiwaClient({ baseURL: 'https://kaiwa.example.com', token: 'kaiwa_…' });
//   const answer = await kaiwa.chat('こんにちは！');
//   await kaiwa.streamChat('長い文章を書いてください', (event) => { … });
//
// Events are API.md section 4's objects ({type: "start"|"message"|"tool_call"|"done"|"error", …})
// with the SSE `id` added as `event.id` (a number).

const CHAT_OPTIONS = ['system_prompt', 'temperature', 'max_tokens', 'conversation_id'];
// Errors before the stream starts are JSON ({detail, code}), so both are acceptable.
const SSE_ACCEPT = 'text/event-stream, application/json';

/** An HTTP error answered by the API: {detail, code} (or DRF field errors in `body`). */
export class KaiwaError extends Error {
  constructor(status, body) {
    const detail = body && typeof body.detail === 'string' ? body.detail : `HTTP ${status}`;
    super(detail);
    this.name = 'KaiwaError';
    this.status = status;
    this.code = (body && body.code) || 'error';
    this.body = body;
  }
}

/**
 * An incremental parser for text/event-stream (the WHATWG rules that matter here): lines end
 * with LF, CRLF or CR; an event ends at a blank line; `data:` lines are joined with "\n";
 * `id:` sets the last event id; lines starting with ":" are comments (keep-alives).
 * Chunks may split anywhere — inside a line, a field name or a CRLF pair.
 */
export class SSEParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.data = [];
    this.eventType = '';
    this.lastEventId = '';
    this.pendingCR = false;
  }

  /** Feed decoded text. */
  push(text) {
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1); // the LF of a split CRLF
    this.pendingCR = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i += 1) {
      const ch = this.buffer[i];
      if (ch !== '\n' && ch !== '\r') continue;
      this.line(this.buffer.slice(start, i));
      if (ch === '\r') {
        if (i + 1 === this.buffer.length) this.pendingCR = true;
        else if (this.buffer[i + 1] === '\n') i += 1;
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  /** The stream ended: an unterminated last event is dropped, as browsers do. */
  end() {
    this.buffer = '';
    this.data = [];
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'event') this.eventType = value;
  }

  dispatch() {
    const data = this.data;
    const type = this.eventType;
    this.data = [];
    this.eventType = '';
    if (data.length === 0) return;
    this.onEvent({ id: this.lastEventId, event: type || 'message', data: data.join('\n') });
  }
}

export class KaiwaClient {
  /**
   * @param {object} options
   * @param {string} [options.baseURL] e.g. "https://kaiwa.example.com" ("" = this origin)
   * @param {string} [options.token] a personal API token (Authorization: Bearer …); without
   *   one, requests use the browser session (then unsafe methods need options.csrfToken)
   * @param {string} [options.csrfToken] for session use from a Kaiwa page
   * @param {typeof fetch} [options.fetch] a fetch implementation (default: globalThis.fetch)
   */
  constructor({ baseURL = '', token = null, csrfToken = null, fetch: fetchImpl } = {}) {
    this.baseURL = baseURL.replace(/\/+$/, '');
    this.token = token;
    this.csrfToken = csrfToken;
    this.fetch = fetchImpl || globalThis.fetch.bind(globalThis);
  }

  headers(extra = {}) {
    const headers = { Accept: 'application/json', ...extra };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (this.csrfToken) headers['X-CSRFToken'] = this.csrfToken;
    return headers;
  }

  async request(path, { method = 'GET', body, headers = {}, signal } = {}) {
    const init = { method, headers: this.headers(headers), signal };
    if (!this.token) init.credentials = 'same-origin';
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await this.fetch(`${this.baseURL}${path}`, init);
    if (!response.ok) {
      const errorBody = await response.json().catch(() => null);
      throw new KaiwaError(response.status, errorBody);
    }
    return response;
  }

  /**
   * One message, one complete answer: POST /api/chat/.
   * @param {string} message
   * @param {{system_prompt?: string, temperature?: number, max_tokens?: number,
   *          conversation_id?: string, signal?: AbortSignal}} [options]
   * @returns {Promise<{conversation_id: string, message_id: string, message: string, model: string, usage: object}>}
   */
  async chat(message, options = {}) {
    const response = await this.request('/api/chat/', {
      method: 'POST',
      body: chatBody(message, options),
      signal: options.signal,
    });
    return response.json();
  }

  /**
   * The same, streamed: POST /api/chat/stream/. Calls onEvent for every event and resolves
   * when the stream ends with a summary. An `error` event is passed to onEvent (it does not
   * reject); HTTP errors before the stream starts reject with KaiwaError.
   * @returns {Promise<{conversationId, messageId, content, lastEventId, finished, error}>}
   */
  async streamChat(message, onEvent, options = {}) {
    const response = await this.request('/api/chat/stream/', {
      method: 'POST',
      body: chatBody(message, options),
      headers: { Accept: SSE_ACCEPT },
      signal: options.signal,
    });
    return readEvents(response, onEvent);
  }

  /**
   * Attach to a reply again (after a dropped connection): GET /api/messages/{id}/stream/ with
   * Last-Event-ID, so only the events after `lastEventId` arrive.
   */
  async resume(messageId, lastEventId, onEvent, options = {}) {
    const headers = { Accept: SSE_ACCEPT };
    if (lastEventId !== undefined && lastEventId !== null && lastEventId !== '') {
      headers['Last-Event-ID'] = String(lastEventId);
    }
    const response = await this.request(`/api/messages/${encodeURIComponent(messageId)}/stream/`, {
      headers,
      signal: options.signal,
    });
    return readEvents(response, onEvent, { messageId });
  }
}

function chatBody(message, options) {
  const body = { message };
  for (const key of CHAT_OPTIONS) {
    if (options[key] !== undefined && options[key] !== null) body[key] = options[key];
  }
  return body;
}

async function readEvents(response, onEvent, initial = {}) {
  const summary = {
    conversationId: initial.conversationId || null,
    messageId: initial.messageId || null,
    content: '',
    lastEventId: null,
    finished: false,
    error: null,
  };
  const parser = new SSEParser(({ id, data }) => {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return; // not ours: ignore
    }
    if (id !== '') {
      summary.lastEventId = Number(id);
      event.id = summary.lastEventId;
    }
    if (event.type === 'start') {
      summary.conversationId = event.conversation_id || summary.conversationId;
      summary.messageId = event.message_id || summary.messageId;
    } else if (event.type === 'message') {
      summary.content += event.content;
    } else if (event.type === 'done') {
      summary.finished = true;
    } else if (event.type === 'error') {
      summary.finished = true;
      summary.error = { code: event.code, message: event.error };
    }
    if (onEvent) onEvent(event);
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder('utf-8');
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.push(decoder.decode(value, { stream: true }));
  }
  parser.push(decoder.decode());
  parser.end();
  return summary;
}
