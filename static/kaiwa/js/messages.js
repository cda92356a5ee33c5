// The message list: bubbles cloned from server-rendered <template>s (the same partial the
// page uses), live text appended as text nodes, and the server's sanitised HTML at the end.

import { describeError, t } from './i18n.js';
import { cloneTemplate } from './http.js';

const RUNNING = new Set(['pending', 'streaming', 'sending']);
const SUMMARY_CHARS = 140;
const SUMMARY_FIELDS = 4;
const NOTICE_MS = 2500;

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

  /** Every row of a message (an assistant message with text and tool calls has two). */
  findAll(messageId) {
    if (!messageId) return [];
    return [...this.list.querySelectorAll(`[data-message-id="${CSS.escape(messageId)}"]`)];
  }

  /**
   * Make room for a new branch under `parentId`: remove every row below the parent's (all rows
   * when the parent is null: the first message). False when the parent is not on screen.
   * @returns {{removed: number}|null}
   */
  cutBelow(parentId) {
    if (parentId === undefined) return null;
    let removed = 0;
    if (parentId === null || parentId === '') {
      removed = this.list.children.length;
      this.list.replaceChildren();
    } else {
      const rows = this.findAll(parentId);
      if (!rows.length) return null;
      const parent = rows[rows.length - 1];
      while (parent.nextElementSibling) {
        parent.nextElementSibling.remove();
        removed += 1;
      }
    }
    this.emptyNote.hidden = this.list.children.length > 0;
    return { removed };
  }

  /** False when `el` is known to sit under another row than its parent's (`parentId`). */
  follows(el, parentId) {
    if (parentId === undefined) return true; // a server that does not say
    const before = el.previousElementSibling;
    if (parentId === null || parentId === '') return before === null;
    return before !== null && before.dataset.messageId === parentId;
  }

  /** Remove `el` and every row below it (the old branch of an edited message). */
  removeFrom(el) {
    while (el.nextElementSibling) el.nextElementSibling.remove();
    el.remove();
    this.emptyNote.hidden = this.list.children.length > 0;
  }

  /** The message's text as written: the reply's Markdown, the user's plain text. */
  rawText(el) {
    if (el.dataset.markdown !== undefined) return el.dataset.markdown;
    return this.body(el).textContent;
  }

  /** A message's place in the tree (API.md: parent_id, sibling_index, sibling_count). */
  setTree(el, { parent_id: parentId, sibling_index: index, sibling_count: count }) {
    if (parentId !== undefined) el.dataset.parentId = parentId ?? '';
    if (index === undefined || count === undefined) return;
    el.dataset.siblingIndex = String(index);
    el.dataset.siblingCount = String(count);
    const versions = el.querySelector('[data-versions]');
    if (!versions) return;
    versions.hidden = count < 2;
    versions.querySelector('[data-version-label]').textContent = `${index + 1} / ${count}`;
    versions.querySelector('[data-action="previous-version"]').disabled = index <= 0;
    versions.querySelector('[data-action="next-version"]').disabled = index + 1 >= count;
  }

  /** A short confirmation under a message ("Copied."), read out by screen readers. */
  notice(el, text) {
    const node = el.querySelector('[data-copy-status]');
    if (!node) return;
    node.textContent = text;
    clearTimeout(node.noticeTimer);
    node.noticeTimer = setTimeout(() => {
      node.textContent = '';
    }, NOTICE_MS);
  }

  /** Give each code block of the replies under `root` a copy button of its own. */
  decorateCode(root = this.list) {
    for (const pre of root.querySelectorAll('.message--assistant [data-body] pre')) {
      if (pre.parentElement.classList.contains('code-block')) continue;
      const wrapper = document.createElement('div');
      wrapper.className = 'code-block';
      pre.replaceWith(wrapper);
      wrapper.append(cloneTemplate('code-copy-template'), pre);
    }
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
    delete el.dataset.markdown; // known at `done`; until then the live text is the Markdown
    this.setStatus(el, 'streaming');
    this.append(el);
    return el;
  }

  /** Show the "ask anything" note again when the list is empty. */
  showEmptyNote() {
    this.emptyNote.hidden = this.list.children.length > 0;
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
  finish(el, html, status, markdown) {
    const body = this.body(el);
    el.dataset.markdown = typeof markdown === 'string' ? markdown : body.textContent;
    body.classList.remove('is-live');
    body.innerHTML = html;
    this.decorateCode(el);
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

  /**
   * Mark where the model's view of the history begins: before the row of `messageId`
   * (API.md: a reply's context_start_id). One marker at a time.
   */
  markContextStart(messageId, summarized) {
    for (const marker of this.list.querySelectorAll('[data-context-marker]')) marker.remove();
    const row = this.find(messageId);
    if (!row) return;
    const marker = document.createElement('li');
    marker.className = 'context-marker';
    marker.setAttribute('role', 'note');
    marker.dataset.contextMarker = '';
    marker.textContent = t(summarized ? 'context.summarized' : 'context.notSent');
    row.before(marker);
  }

  /** Replace everything with the server's rendering of the list (after a re-sync). */
  replaceAll(html) {
    this.list.innerHTML = html;
    this.decorateCode();
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
