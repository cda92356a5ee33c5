// The chat page: sending over the conversation WebSocket (API.md section 5), live replies,
// stop, retry, edit, regenerate, versions, copy, clear and export, and re-syncing after a
// reload or a dropped connection.
//
// The page shows the conversation's active path. An edit or a regeneration starts a new
// branch under the message's parent: every tab of the conversation removes the rows below
// that parent when the branch's first event (`user_message` or `start`, with `parent_id`)
// arrives, and draws the new branch there.
//
// Live text is only ever inserted as text nodes. The only HTML the page inserts is what the
// server rendered: the sanitised `html` of a `done` event, or the message-list fragment.

import { bindAttachmentSources } from './attachment-sources.js';
import { AttachmentTray, attachmentIdsOf, showAttachments } from './attachments.js';
import { codeText, copyText } from './clipboard.js';
import { bindComposer } from './composer.js';
import { confirmDialog, showError } from './dialogs.js';
import { openEditor } from './editor.js';
import { api, csrfToken, uuid4 } from './http.js';
import { describeError, t } from './i18n.js';
import { MessageList } from './messages.js';
import { bindSettings } from './settings.js';
import { Sidebar } from './sidebar.js';
import { ReconnectingSocket } from './socket.js';
import { loadTree, selectVersion, siblingOf } from './versions.js';

const RUNNING = new Set(['pending', 'streaming']);

const app = document.getElementById('chat-app');
const chatUrl = app.dataset.chatUrl;
const textarea = document.getElementById('composer-input');
const sendButton = document.getElementById('send-button');
const stopButton = document.getElementById('stop-button');
const composerError = document.getElementById('composer-error');
const attachmentError = document.getElementById('attachment-error');
const connectionStatus = document.getElementById('connection-status');
const titleHeading = document.getElementById('chat-title');
const settingsButton = document.getElementById('open-settings');
const messageList = document.getElementById('message-list');
const conversationTools = document.getElementById('conversation-tools');
const clearButton = document.getElementById('clear-conversation');

let connectingTimer = null;

const messages = new MessageList(messageList, document.getElementById('chat-empty'));

const state = {
  conversationId: app.dataset.conversationId || null,
  socket: null,
  // The reply being written: {id, el, seq}. seq is null until a snapshot (or the reply's
  // `start`) tells us where the live text stands; deltas are ignored until then.
  reply: null,
  // Commands not yet acknowledged, by client_id: {kind, payload, el}. A send or an edit is
  // acknowledged by its `user_message`, a regeneration by the `start` of its reply (el null).
  pending: new Map(),
  // Acknowledged sends whose `start` has not arrived yet.
  awaitingStart: 0,
  // Events are handled one at a time, in order, even when a handler has to fetch.
  queue: Promise.resolve(),
  creating: null,
  // A conversation created for the first upload of a new chat, not shown (URL, sidebar)
  // until its first send; deleted when the page is left before that.
  draft: null,
  // The open inline editor of a user message, if any.
  editor: null,
  // Set when the server put a message of ours under another parent than the one shown (a
  // version chosen in another tab): the page re-reads the active path when the reply ends.
  stalePath: false,
};

const sidebar = new Sidebar({
  root: document.getElementById('sidebar'),
  list: document.getElementById('conversation-list'),
  empty: document.getElementById('conversation-list-empty'),
  search: document.getElementById('conversation-search-input'),
  status: document.getElementById('sidebar-status'),
  toggle: document.getElementById('sidebar-toggle'),
  chatUrl,
  currentId: state.conversationId,
  onRenamed: (conversation) => {
    if (conversation.id === state.conversationId) showTitle(conversation.title);
  },
});

const composer = bindComposer(textarea, { onSend: (text) => send(text) });
const tray = new AttachmentTray(document.getElementById('composer-attachments'), {
  uploadUrl: async () => {
    await ensureConversation({ reveal: false });
    return `/api/conversations/${state.conversationId}/attachments/`;
  },
  onChange: () => updateBusy(),
  onError: (text) => showError(attachmentError, text),
  maxBytes: Number(app.dataset.attachmentMaxBytes) || 0,
  onEmptied: () => composer.focus(),
});
bindAttachmentSources({
  button: document.getElementById('attach-button'),
  input: document.getElementById('attach-input'),
  dropZone: document.querySelector('.chat'),
  pasteTarget: textarea,
  onFiles: (files) => tray.add(files),
});
document.getElementById('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  send(textarea.value);
});
stopButton.addEventListener('click', () => stop());
messageList.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button || !messageList.contains(button)) return;
  const el = button.closest('.message');
  switch (button.dataset.action) {
    case 'retry':
      retry(el);
      break;
    case 'copy':
      copyMessage(el);
      break;
    case 'copy-code':
      copyCode(el, button);
      break;
    case 'edit':
      startEdit(el);
      break;
    case 'regenerate':
      regenerate(el);
      break;
    case 'previous-version':
      enqueue(() => switchVersion(el, -1, button.dataset.action));
      break;
    case 'next-version':
      enqueue(() => switchVersion(el, 1, button.dataset.action));
      break;
    default:
      break;
  }
});
clearButton.addEventListener('click', () => clearConversation());

bindSettings({
  button: settingsButton,
  dialog: document.getElementById('settings-dialog'),
  form: document.getElementById('settings-form'),
  conversationId: () => state.conversationId,
  onSaved: (conversation, note) => {
    showTitle(conversation.title);
    connectionStatus.textContent = note;
  },
});

// --- start-up ----------------------------------------------------------------------------

const serverRunning = messages.runningReply();
if (serverRunning) {
  // Rendered from the database while a turn runs: the snapshot brings the live text.
  state.reply = { id: serverRunning.dataset.messageId, el: serverRunning, seq: null };
}
updateBusy();
if (state.conversationId) connect();
messages.decorateCode();
messages.scrollToEnd();
window.addEventListener('pagehide', () => {
  if (state.draft) discardDraft();
  else tray.discardUnsent();
});
window.addEventListener('pageshow', (event) => {
  // Back from the back-forward cache after discardDraft: the page's conversation is gone.
  if (event.persisted && state.draft && state.draft.discarded) window.location.reload();
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && state.socket && !state.socket.isOpen) {
    state.socket.reconnectNow();
  }
});
app.dataset.ready = 'true'; // the handlers are bound (tests wait for this)

// --- sending -----------------------------------------------------------------------------

function isBusy() {
  return state.reply !== null || state.pending.size > 0 || state.awaitingStart > 0;
}

function updateBusy() {
  const busy = isBusy();
  // The send button waits for uploads too; Stop is only for a reply.
  sendButton.disabled = busy || tray.uploading;
  sendButton.setAttribute('aria-busy', String(tray.uploading));
  // A message of files alone needs no text (API.md): the box is required only without them.
  textarea.required = tray.attachments.length === 0;
  stopButton.hidden = !busy;
  stopButton.disabled = false;
  app.dataset.busy = String(busy);
}

/**
 * Send `text` with the files in the tray, or (a retry) with the attachments of the bubble
 * `retryOf`.
 */
async function send(text, { retryOf = null } = {}) {
  const attachments = retryOf ? null : tray.attachments;
  const attachmentIds = retryOf ? attachmentIdsOf(retryOf) : attachments.map((file) => file.id);
  const uploading = !retryOf && tray.uploading;
  // Text, files, or both: a pasted screenshot is a message of its own.
  if (!text.trim() && !attachmentIds.length && !uploading) return;
  if (isBusy()) {
    showError(composerError, t('busy'));
    return;
  }
  if (uploading) {
    showError(composerError, t('attachments.wait'));
    return;
  }
  showError(composerError, '');
  const clientId = uuid4();
  const el = messages.addUser(text, clientId);
  if (retryOf) {
    const sent = retryOf.querySelector('[data-attachments]').cloneNode(true);
    el.querySelector('[data-attachments]').replaceWith(sent);
  } else {
    showAttachments(el, attachments);
    tray.clear();
    showError(attachmentError, '');
  }
  const payload = { type: 'send', content: text, client_id: clientId };
  if (attachmentIds.length) payload.attachments = attachmentIds;
  state.pending.set(clientId, { kind: 'send', payload, el, attachments });
  composer.clear();
  updateBusy();
  messages.scrollToEnd();
  try {
    await ensureConversation();
  } catch (error) {
    failSend(clientId, error.code, error.detail);
    return;
  }
  transmit(clientId);
}

/** Send (or re-send: client_id makes it idempotent) one pending command. */
function transmit(clientId) {
  const pending = state.pending.get(clientId);
  if (pending && state.socket) state.socket.send(pending.payload);
}

async function failSend(clientId, code, detail) {
  const pending = state.pending.get(clientId);
  state.pending.delete(clientId);
  updateBusy();
  if (!pending) return;
  if (pending.kind === 'send' && pending.attachments && pending.attachments.length) {
    // Refused with files from the composer (a model that cannot read images, too many
    // files…): the message goes back to the composer, with the reason beside it.
    pending.el.remove();
    messages.showEmptyNote();
    if (!textarea.value) textarea.value = pending.payload.content;
    tray.restore(pending.attachments);
    showError(attachmentError, describeError(code, detail));
    return;
  }
  if (pending.kind === 'send') {
    messages.showError(pending.el, code, detail);
    return;
  }
  showError(composerError, describeError(code, detail));
  // A refused edit: the old branch comes back from the server.
  if (pending.kind === 'edit') await resync();
}

/**
 * Create the conversation of a new chat (once). With `reveal: false` (an upload before the
 * first send) it stays a draft: no URL, no place in the sidebar, until a send reveals it.
 */
async function ensureConversation({ reveal = true } = {}) {
  if (!state.conversationId) {
    if (!state.creating) {
      state.creating = api('/api/conversations/', { method: 'POST', body: {} })
        .then((conversation) => {
          state.conversationId = conversation.id;
          app.dataset.conversationId = conversation.id;
          state.draft = { conversation, discarded: false };
          connect();
        })
        .finally(() => {
          state.creating = null;
        });
    }
    await state.creating;
  }
  if (reveal && state.draft && !state.draft.discarded) revealConversation();
}

function revealConversation() {
  const { conversation } = state.draft;
  state.draft = null;
  const path = `${chatUrl}${conversation.id}/`;
  window.history.replaceState(null, '', path);
  // Switching the language comes back here, not to an empty new chat.
  const next = document.querySelector('.lang-form input[name="next"]');
  if (next) next.value = path;
  settingsButton.disabled = false;
  showConversationTools(conversation.id);
  sidebar.setCurrent(conversation.id);
  sidebar.upsert(conversation);
}

/**
 * Leaving a new chat whose files were uploaded but never sent: delete its conversation (and
 * so the files) rather than leave an empty "New conversation" in the sidebar. keepalive lets
 * the request outlive the page.
 */
function discardDraft() {
  if (!state.draft || state.draft.discarded) return;
  state.draft.discarded = true;
  fetch(`/api/conversations/${state.draft.conversation.id}/`, {
    method: 'DELETE',
    credentials: 'same-origin',
    headers: { 'X-CSRFToken': csrfToken(), Accept: 'application/json' },
    keepalive: true,
  }).catch(() => {});
}

function stop() {
  stopButton.disabled = true;
  if (state.socket && state.socket.send({ type: 'stop' })) return;
  if (state.conversationId) {
    api(`/api/conversations/${state.conversationId}/stop/`, { method: 'POST' }).catch((error) => {
      stopButton.disabled = false;
      showError(composerError, describeError(error.code, error.detail));
    });
  }
}

function retry(el) {
  if (isBusy()) {
    showError(composerError, t('busy'));
    return;
  }
  let source = el;
  while (source && source.dataset.role !== 'user') source = source.previousElementSibling;
  if (!source) return;
  const stored = source.dataset.messageId && el.dataset.messageId;
  if (source !== el && stored && attachmentIdsOf(source).length) {
    // A stored message's files stay with it (a second send of them is refused): a new
    // version of the failed reply reads them again.
    messages.retried(el);
    regenerate(el);
    return;
  }
  const content = source.querySelector('[data-body]').textContent;
  if (source === el && !el.dataset.messageId) {
    el.remove(); // never reached the server: the new send replaces it
  } else {
    messages.retried(el); // keep the failure in the history, without a second retry
  }
  send(content, { retryOf: source });
}

// --- actions on a message ----------------------------------------------------------------

async function copyMessage(el) {
  const copied = await copyText(messages.rawText(el));
  messages.notice(el, copied ? t('copy.done') : t('copy.failed'));
}

async function copyCode(el, button) {
  const pre = button.closest('.code-block').querySelector('pre');
  const copied = await copyText(codeText(pre));
  messages.notice(el, copied ? t('copy.done') : t('copy.failed'));
  if (!copied) return;
  button.textContent = t('copy.doneShort');
  clearTimeout(button.resetTimer);
  button.resetTimer = setTimeout(() => {
    button.textContent = t('copy');
  }, 2500);
}

function refuseWhileBusy() {
  if (!isBusy()) return false;
  showError(composerError, t('busy'));
  return true;
}

function startEdit(el) {
  if (refuseWhileBusy()) return;
  if (state.editor) state.editor.close({ restoreFocus: false });
  state.editor = openEditor(el, {
    text: messages.rawText(el),
    // The new version keeps the message's files, so it may be left without text.
    allowEmpty: attachmentIdsOf(el).length > 0,
    onSave: (text) => submitEdit(el, text),
    onClose: () => {
      state.editor = null;
    },
  });
}

/** Send an edited user message: a new sibling of `el` and a new reply (API.md: `edit`). */
function submitEdit(el, text) {
  if (refuseWhileBusy()) return;
  showError(composerError, '');
  if (state.editor) state.editor.close({ restoreFocus: false });
  const clientId = uuid4();
  const payload = { type: 'edit', message_id: el.dataset.messageId, content: text, client_id: clientId };
  // The old branch leaves the view (the server keeps it: the version switcher brings it back).
  const parentId = el.dataset.parentId;
  // Without `attachments` the new version keeps the edited message's (API.md).
  const files = el.querySelector('[data-attachments]');
  messages.removeFrom(el);
  const bubble = messages.addUser(text, clientId);
  if (files) bubble.querySelector('[data-attachments]').replaceWith(files);
  bubble.dataset.parentId = parentId ?? '';
  state.pending.set(clientId, { kind: 'edit', payload, el: bubble });
  updateBusy();
  composer.focus();
  transmit(clientId);
}

/** Ask for another version of the reply `el` (API.md: `regenerate`). */
function regenerate(el) {
  if (refuseWhileBusy()) return;
  showError(composerError, '');
  const clientId = uuid4();
  const payload = { type: 'regenerate', message_id: el.dataset.messageId, client_id: clientId };
  state.pending.set(clientId, { kind: 'regenerate', payload, el: null });
  updateBusy();
  transmit(clientId);
}

/** Show the previous (-1) or next (+1) version of the message `el`. */
async function switchVersion(el, step, action) {
  if (!el.isConnected || refuseWhileBusy()) return; // a second click on a replaced row
  showError(composerError, '');
  try {
    const tree = await loadTree(state.conversationId);
    const target = siblingOf(tree, el.dataset.messageId, step);
    if (!target) {
      showVersions(tree); // the counts on screen were out of date
      return;
    }
    await selectVersion(target.id);
    await resync();
    focusVersionButton(target.id, action);
  } catch (error) {
    showError(composerError, describeError(error.code, error.detail));
  }
}

/** Keep the keyboard on the switcher that was used (or its other arrow, at either end). */
function focusVersionButton(messageId, action) {
  for (const row of messages.findAll(messageId)) {
    const versions = row.querySelector('[data-versions]');
    if (!versions || versions.hidden) continue;
    const wanted = versions.querySelector(`[data-action="${action}"]`);
    const button = wanted.disabled ? versions.querySelector('button:not(:disabled)') : wanted;
    if (button) button.focus();
    return;
  }
}

/** Update every switcher on screen from the tree. */
function showVersions(tree) {
  for (const message of tree) {
    for (const row of messages.findAll(message.id)) messages.setTree(row, message);
  }
}

/** Re-read the sibling counts after a new branch appeared (a regenerated reply). */
async function refreshVersions() {
  try {
    showVersions(await loadTree(state.conversationId));
  } catch {
    // The switchers keep their counts; the next reload shows the right ones.
  }
}

// --- the conversation as a whole -----------------------------------------------------------

function showConversationTools(conversationId) {
  const base = `/api/conversations/${conversationId}/export/`;
  document.getElementById('export-markdown').href = `${base}?format=md`;
  document.getElementById('export-json').href = `${base}?format=json`;
  conversationTools.hidden = false;
}

async function clearConversation() {
  if (!state.conversationId || refuseWhileBusy()) return;
  const confirmed = await confirmDialog(t('conversation.confirmClear'), { okLabel: clearButton.textContent });
  if (!confirmed) return;
  try {
    await api(`/api/conversations/${state.conversationId}/clear/`, { method: 'POST' });
  } catch (error) {
    showError(composerError, describeError(error.code, error.detail));
    return;
  }
  if (state.editor) state.editor.close({ restoreFocus: false });
  messages.replaceAll('');
  showError(composerError, '');
  connectionStatus.textContent = t('conversation.cleared');
}

// --- the socket --------------------------------------------------------------------------

function connect() {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${scheme}//${window.location.host}/ws/conversations/${state.conversationId}/`;
  state.socket = new ReconnectingSocket(url, {
    onOpen,
    onMessage: (event) => enqueue(() => handle(event)),
    onState: showConnection,
    onFatal: (code) => {
      if (code === 4401) {
        window.location.assign(`/accounts/login/?next=${encodeURIComponent(window.location.pathname)}`);
        return;
      }
      connectionStatus.textContent = t('connection.gone');
      state.pending.clear();
      state.reply = null;
      updateBusy();
    },
  }).start();
}

function onOpen() {
  for (const clientId of state.pending.keys()) transmit(clientId);
  if (state.reply) enqueue(checkReplyStillRunning);
}

function enqueue(task) {
  state.queue = state.queue.then(task).catch((error) => console.error(error));
}

function showConnection(value) {
  clearTimeout(connectingTimer);
  if (value === 'open') {
    connectionStatus.textContent = '';
  } else if (value === 'connecting') {
    // Only say so when it takes a while: a normal connect should not flicker.
    connectingTimer = setTimeout(() => {
      connectionStatus.textContent = t('connection.connecting');
    }, 1000);
  } else {
    connectionStatus.textContent = t(`connection.${value}`);
  }
}

/** After a (re)connect with a reply on screen that no snapshot may come for. */
async function checkReplyStillRunning() {
  if (!state.reply) return;
  try {
    const conversation = await api(`/api/conversations/${state.conversationId}/`);
    if (!conversation.busy) await resync();
  } catch {
    // The next reconnect tries again.
  }
}

/** Re-read the message list from the server; true when a reply is still running. */
async function resync() {
  const response = await fetch(`${chatUrl}${state.conversationId}/messages/`, {
    credentials: 'same-origin',
    headers: { Accept: 'text/html' },
  });
  if (!response.ok) return false;
  const html = await response.text();
  state.editor = null; // it was inside the list that is replaced
  messages.replaceAll(html);
  for (const [clientId, pending] of state.pending) {
    if (!pending.el) continue;
    // Saved after all (its acknowledgement was lost with the connection): adopt the
    // server's bubble; otherwise keep ours until it is sent.
    const saved = messageList.querySelector(`[data-client-id="${CSS.escape(clientId)}"]`);
    if (saved) pending.el = saved;
    else messageList.append(pending.el);
  }
  const running = messages.runningReply();
  state.reply = running ? { id: running.dataset.messageId, el: running, seq: null } : null;
  updateBusy();
  return running !== null;
}

async function handle(event) {
  switch (event.type) {
    case 'user_message':
      onUserMessage(event.message);
      break;
    case 'start':
      await onStart(event);
      break;
    case 'snapshot':
      await onSnapshot(event);
      break;
    case 'delta':
      onDelta(event);
      break;
    case 'tool_call':
      onToolCall(event);
      break;
    case 'done':
      await onDone(event);
      break;
    case 'error':
      await onError(event);
      break;
    case 'conversation_title':
      onTitle(event);
      break;
    default:
      break;
  }
  updateBusy();
}

/** The reply for `messageId` when it is (still) being written on screen, else null. */
function replyFor(messageId) {
  if (state.reply && state.reply.id === messageId) return state.reply;
  const el = messages.find(messageId);
  if (!el || !RUNNING.has(el.dataset.status)) return null;
  state.reply = { id: messageId, el, seq: null };
  return state.reply;
}

function onUserMessage(message) {
  const pending = state.pending.get(message.client_id);
  if (pending && pending.el) {
    state.pending.delete(message.client_id);
    pending.el.dataset.messageId = message.id;
    if (message.attachments) showAttachments(pending.el, message.attachments);
    messages.setStatus(pending.el, 'complete');
    messages.setTree(pending.el, message);
    if (!messages.follows(pending.el, message.parent_id)) state.stalePath = true;
    state.awaitingStart += 1;
  } else if (!messages.find(message.id) && messages.cutBelow(message.parent_id)) {
    // Sent or edited in another tab: its branch replaces ours below the same parent.
    const el = messages.addUser(message.content, message.client_id || '');
    el.dataset.messageId = message.id;
    showAttachments(el, message.attachments);
    messages.setStatus(el, 'complete');
    messages.setTree(el, message);
    state.awaitingStart += 1;
  }
  refreshConversation();
}

/** The oldest regeneration this tab asked for and has not seen start. */
function takeRegeneration() {
  for (const [clientId, pending] of state.pending) {
    if (pending.kind === 'regenerate') {
      state.pending.delete(clientId);
      return pending;
    }
  }
  return null;
}

async function onStart(event) {
  let reply = replyFor(event.message_id);
  if (!reply && !messages.find(event.message_id)) {
    const regeneration = takeRegeneration();
    const cut = messages.cutBelow(event.parent_id);
    if (!cut && (state.awaitingStart === 0 || regeneration)) {
      // Started from another tab (or under a row this page does not show): fetch the
      // active path, then sync from a snapshot.
      if (await resync()) state.socket.reconnectNow();
      if (regeneration) refreshVersions();
      return;
    }
    const el = messages.addAssistant(event.message_id);
    messages.setTree(el, { parent_id: event.parent_id });
    reply = replyFor(event.message_id);
    // A reply replaced another one under the same parent: the switchers need new counts.
    if (regeneration || (cut && cut.removed > 0)) refreshVersions();
  }
  state.awaitingStart = Math.max(0, state.awaitingStart - 1);
  if (!reply) return;
  if (reply.seq === null) {
    messages.setText(reply.el, '');
    reply.seq = event.seq ?? 0;
  }
}

async function onSnapshot(event) {
  const known = messages.find(event.message_id);
  if (!known) takeRegeneration(); // one turn at a time: a new reply is the one asked for
  if (!known || (state.reply && state.reply.id !== event.message_id)) await resync();
  state.awaitingStart = 0;
  const reply = replyFor(event.message_id);
  if (!reply) return;
  messages.setText(reply.el, event.content);
  messages.setStatus(reply.el, 'streaming');
  reply.seq = event.seq;
  messages.scrollToEnd();
}

function onDelta(event) {
  const reply = replyFor(event.message_id);
  if (!reply || reply.seq === null || event.seq <= reply.seq) return;
  if (reply.el.dataset.status === 'pending') messages.setStatus(reply.el, 'streaming');
  messages.appendText(reply.el, event.content);
  reply.seq = event.seq;
}

function onToolCall(event) {
  const reply = replyFor(event.message_id);
  if (reply && reply.seq !== null && event.seq <= reply.seq) return;
  messages.addToolCall(reply ? reply.el : null, event.name, event.result);
  if (reply && reply.seq !== null) reply.seq = event.seq;
}

async function onDone(event) {
  const el = messages.find(event.message_id);
  state.awaitingStart = 0;
  if (state.reply && state.reply.id === event.message_id) state.reply = null;
  if (!el) {
    await resync();
    return;
  }
  messages.finish(el, event.html || '', event.status || 'complete', event.content);
  if (event.context_start_id) messages.markContextStart(event.context_start_id, event.context_summarized);
  if (state.stalePath) {
    state.stalePath = false;
    await resync();
  }
  refreshConversation();
}

async function onError(event) {
  if (event.message_id) {
    const el = messages.find(event.message_id);
    state.awaitingStart = 0;
    if (state.reply && state.reply.id === event.message_id) state.reply = null;
    if (el) messages.showError(el, event.code, event.message);
    else await resync();
    return;
  }
  // A refused command (an invalid message, a turn already running): no reply exists.
  const [clientId] = state.pending.keys();
  if (clientId !== undefined) await failSend(clientId, event.code, event.message);
  else showError(composerError, describeError(event.code, event.message));
}

// --- titles ------------------------------------------------------------------------------

function showTitle(title) {
  const text = title || t('untitled');
  titleHeading.textContent = text;
  document.title = document.title.replace(/^[^·]*·/, `${text} ·`);
}

/** A title the model wrote for one of the user's conversations (this one or another). */
function onTitle(event) {
  sidebar.setTitle(event.conversation_id, event.title);
  if (event.conversation_id === state.conversationId) showTitle(event.title);
}

async function refreshConversation() {
  try {
    const conversation = await api(`/api/conversations/${state.conversationId}/`);
    showTitle(conversation.title);
    sidebar.upsert(conversation);
    sidebar.setCurrent(conversation.id);
  } catch {
    // Cosmetic only.
  }
}
