// The message list: bubbles cloned from server-rendered <template>s (the same partial the
// page uses), live text appended as text nodes, and the server's sanitised HTML at the end.

import { describeError, t } from './i18n.js';
import { cloneTemplate } from './http.js';

const RUNNING = new Set(['pending', 'streaming', 'sending']);
const SUMMARY_CHARS = 140;
const SUMMARY_FIELDS = 4;

function scalar(value) {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** One-line summary of a tool result; mirrors conversations.message_items.tool_result_summary. */
export function toolResultSummary(result) {
  let text;
  if (result !== null && typeof result === 'object' && !Array.isArray(result)) {
    if ('error' in result) {
      text = `error: ${scalar(result.error)}`;
    } else {
      text = Object.entries(result)
        .filter(([, value]) => value === null || ['string', 'number', 'boolean'].includes(typeof value))
        .slice(0, SUMMARY_FIELDS)
        .map(([key, value]) => `${key}: ${scalar(value)}`)
        .join(', ');
    }
  } else if (Array.isArray(result)) {
    text = `[${result.length}]`;
  } else {
    text = scalar(result);
  }
  if (text.length > SUMMARY_CHARS) text = `${text.slice(0, SUMMARY_CHARS - 1)}…`;
  return text;
}

export class MessageList {
  constructor(list, emptyNote) {
    this.list = list;
    this.emptyNote = emptyNote;
  }

  find(messageId) {
    if (!messageId) return null;
    return this.list.querySelector(`[data-message-id="${CSS.escape(messageId)}"]`);
  }

  /** The newest bubble still being written (rendered by the server while a turn runs). */
  runningReply() {
    const running = this.list.querySelectorAll(
      '.message--assistant[data-status="streaming"], .message--assistant[data-status="pending"]',
    );
    return running.length ? running[running.length - 1] : null;
  }

  addUser(content, clientId) {
    const el = cloneTemplate('user-message-template');
    el.dataset.clientId = clientId;
    this.body(el).textContent = content;
    this.setStatus(el, 'sending');
    this.append(el);
    return el;
  }

  addAssistant(messageId) {
    const el = cloneTemplate('assistant-message-template');
    el.dataset.messageId = messageId;
    this.setStatus(el, 'streaming');
    this.append(el);
    return el;
  }

  append(el) {
    const stick = this.nearBottom();
    this.list.append(el);
    this.emptyNote.hidden = true;
    if (stick) this.scrollToEnd();
  }

  body(el) {
    return el.querySelector('[data-body]');
  }

  setStatus(el, status) {
    el.dataset.status = status;
    for (const name of [...el.classList]) {
      if (name.startsWith('is-')) el.classList.remove(name);
    }
    el.classList.add(`is-${status}`);
    const label = el.querySelector('[data-status-label]');
    if (label) label.textContent = status === 'complete' ? '' : t(`status.${status}`);
    if (RUNNING.has(status)) el.setAttribute('aria-busy', 'true');
    else el.removeAttribute('aria-busy');
  }

  /** Replace the live text (a snapshot): plain text, never parsed as HTML. */
  setText(el, text) {
    this.body(el).textContent = text;
    this.body(el).classList.add('is-live');
  }

  appendText(el, text) {
    const stick = this.nearBottom();
    const body = this.body(el);
    body.classList.add('is-live');
    body.append(document.createTextNode(text));
    if (stick) this.scrollToEnd();
  }

  /** The end of a reply: `html` was rendered from Markdown and sanitised on the server. */
  finish(el, html, status) {
    const body = this.body(el);
    body.classList.remove('is-live');
    body.innerHTML = html;
    this.setStatus(el, status || 'complete');
  }

  showError(el, code, serverText) {
    const box = el.querySelector('[data-error]');
    box.querySelector('[data-error-text]').textContent = describeError(code, serverText);
    box.hidden = false;
    this.body(el).classList.remove('is-live');
    this.setStatus(el, code === 'interrupted' ? 'interrupted' : 'failed');
  }

  retried(el) {
    const button = el.querySelector('[data-action="retry"]');
    if (button) button.hidden = true;
  }

  /** A compact "tool: name — summary" line before the reply it belongs to. */
  addToolCall(replyEl, name, result) {
    let row = replyEl ? replyEl.previousElementSibling : this.list.lastElementChild;
    if (!row || row.dataset.role !== 'tools' || row.dataset.live !== 'true') {
      row = cloneTemplate('tools-row-template');
      row.dataset.live = 'true';
      if (replyEl) this.list.insertBefore(row, replyEl);
      else this.list.append(row);
    }
    const call = cloneTemplate('tool-call-template');
    call.querySelector('[data-tool-name]').textContent = name || t('tool');
    call.querySelector('[data-tool-summary]').textContent = toolResultSummary(result);
    if (result && typeof result === 'object' && 'error' in result) call.classList.add('tool-call--failed');
    row.querySelector('[data-tool-calls]').append(call);
  }

  /** Replace everything with the server's rendering of the list (after a re-sync). */
  replaceAll(html) {
    this.list.innerHTML = html;
    this.emptyNote.hidden = this.list.children.length > 0;
    this.scrollToEnd();
  }

  nearBottom() {
    const { scrollTop, scrollHeight, clientHeight } = this.list;
    return scrollHeight - scrollTop - clientHeight < 80;
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
  }
}
