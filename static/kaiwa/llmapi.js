// The seed guide's `LLMApiClient` (section 8.1, for React/Vue apps) on top of Kaiwa's client:
// the guide's method names and arguments, Kaiwa's paths and authentication underneath.
//
//   import { LLMApiClient } from 'https://kaiwa.example.com/static/kaiwa/llmapi.js';
//   const client = new LLMApiClient('https://kaiwa.example.com', { token: 'kaiwa_…' });
//   const response = await client.chat('こんにちは！');          // response.message
//   await client.streamChat('長い文章を書いてください', (data) => { … });  // data.type, data.content
//   client.clearHistory();                                         // the next call starts afresh
//
// Differences from the guide's class: a Kaiwa personal token is required (sent as
// `Authorization: Bearer`, never cookies, so it works from another origin listed in Kaiwa's
// CORS_ALLOWED_ORIGINS); the paths are /api/chat/ and /api/chat/stream/; one client keeps
// one conversation (Kaiwa stores its history), which clearHistory() leaves for a new one.

import { KaiwaClient, KaiwaError } from './client.js';

export { KaiwaError };

export class LLMApiClient {
  /**
   * @param {string} [baseURL] Kaiwa's address, e.g. "https://kaiwa.example.com"
   * @param {object} [options]
   * @param {string} options.token a Kaiwa personal API token ("kaiwa_…")
   * @param {typeof fetch} [options.fetch] a fetch implementation (default: globalThis.fetch)
   */
  constructor(baseURL = 'http://localhost:8000', { token, fetch: fetchImpl } = {}) {
    if (!token) throw new TypeError('LLMApiClient needs a Kaiwa API token: { token: "kaiwa_…" }');
    this.baseURL = baseURL;
    this.kaiwa = new KaiwaClient({ baseURL, token, fetch: fetchImpl });
    // The conversation this client continues (null: the next call starts a new one).
    this.conversationId = null;
  }

  /**
   * One message, the whole answer (POST /api/chat/), in the current conversation.
   * @param {string} message
   * @param {{temperature?: number, max_tokens?: number, system_prompt?: string,
   *          signal?: AbortSignal}} [options] unset values take Kaiwa's defaults
   * @returns {Promise<{message: string, conversation_id: string, message_id: string,
   *          model: string, usage: object}>}
   * @throws {KaiwaError} for an HTTP error (`status`, `code`, `message`)
   */
  async chat(message, options = {}) {
    const response = await this.kaiwa.chat(message, this.withConversation(options));
    this.conversationId = response.conversation_id;
    return response;
  }

  /**
   * The same, streamed (POST /api/chat/stream/): `onChunk` gets each event as the guide's
   * server sent them — {type: "message", content}, {type: "done"}, {type: "error", error} —
   * plus Kaiwa's {type: "start"} and {type: "tool_call"}.
   * @param {string} message
   * @param {(data: object) => void} onChunk
   * @param {{temperature?: number, max_tokens?: number, system_prompt?: string,
   *          signal?: AbortSignal}} [options]
   * @returns {Promise<{conversationId, messageId, content, lastEventId, finished, error}>}
   * @throws {KaiwaError} for an HTTP error before the stream starts
   */
  async streamChat(message, onChunk, options = {}) {
    const result = await this.kaiwa.streamChat(
      message,
      (event) => {
        if (event.type === 'start' && event.conversation_id) {
          this.conversationId = event.conversation_id;
        }
        if (onChunk) onChunk(event);
      },
      this.withConversation(options),
    );
    if (result.conversationId) this.conversationId = result.conversationId;
    return result;
  }

  /**
   * Forget the conversation: the next chat or streamChat starts a new one. The old one stays
   * in Kaiwa (its history can still be read and reviewed there).
   */
  clearHistory() {
    this.conversationId = null;
  }

  // An explicit options.conversation_id wins; null/undefined values are not sent.
  withConversation(options) {
    return { conversation_id: this.conversationId, ...options };
  }
}
