// The chat page: sending over the conversation WebSocket (API.md section 5), live replies,
// stop, retry, and re-syncing after a reload or a dropped connection.
//
// Live text is only ever inserted as text nodes. The only HTML the page inserts is what the
// server rendered: the sanitised `html` of a `done` event, or the message-list fragment.

import { bindComposer } from './composer.js';
import { showError } from './dialogs.js';
import { api, uuid4 } from './http.js';
import { describeError, t } from './i18n.js';
import { MessageList } from './messages.js';
import { bindSettings } from './settings.js';
import { Sidebar } from './sidebar.js';
import { ReconnectingSocket } from './socket.js';

const RUNNING = new Set(['pending', 'streaming']);

const app = document.getElementById('chat-app');
const chatUrl = app.dataset.chatUrl;
const textarea = document.getElementById('composer-input');
const sendButton = document.getElementById('send-button');
const stopButton = document.getElementById('stop-button');
const composerError = document.getElementById('composer-error');
const connectionStatus = document.getElementById('connection-status');
const titleHeading = document.getElementById('chat-title');
const settingsButton = document.getElementById('open-settings');
const messageList = document.getElementById('message-list');

let connectingTimer = null;

const messages = new MessageList(messageList, document.getElementById('chat-empty'));

const state = {
  conversationId: app.dataset.conversationId || null,
  socket: null,
  // The reply being written: {id, el, seq}. seq is null until a snapshot (or the reply's
  // `start`) tells us where the live text stands; deltas are ignored until then.
  reply: null,
  // Sends not yet acknowledged by a `user_message`, by client_id: {content, el}.
  pending: new Map(),
  // Acknowledged sends whose `start` has not arrived yet.
  awaitingStart: 0,
  // Events are handled one at a time, in order, even when a handler has to fetch.
  queue: Promise.resolve(),
  creating: null,
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
document.getElementById('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  send(textarea.value);
});
stopButton.addEventListener('click', () => stop());
messageList.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action="retry"]');
  if (button) retry(button.closest('.message'));
});

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
messages.scrollToEnd();
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
  sendButton.disabled = busy;
  stopButton.hidden = !busy;
  stopButton.disabled = false;
  app.dataset.busy = String(busy);
}

async function send(text) {
  if (!text.trim()) return;
  if (isBusy()) {
    showError(composerError, t('busy'));
    return;
  }
  showError(composerError, '');
  const clientId = uuid4();
  const el = messages.addUser(text, clientId);
  state.pending.set(clientId, { content: text, el });
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

/** Send (or re-send: client_id makes it idempotent) one pending message. */
function transmit(clientId) {
  const pending = state.pending.get(clientId);
  if (pending && state.socket) {
    state.socket.send({ type: 'send', content: pending.content, client_id: clientId });
  }
}

function failSend(clientId, code, detail) {
  const pending = state.pending.get(clientId);
  state.pending.delete(clientId);
  if (pending) messages.showError(pending.el, code, detail);
  updateBusy();
}

async function ensureConversation() {
  if (state.conversationId) return;
  if (!state.creating) {
    state.creating = api('/api/conversations/', { method: 'POST', body: {} })
      .then((conversation) => {
        state.conversationId = conversation.id;
        app.dataset.conversationId = conversation.id;
        const path = `${chatUrl}${conversation.id}/`;
        window.history.replaceState(null, '', path);
        // Switching the language comes back here, not to an empty new chat.
        const next = document.querySelector('.lang-form input[name="next"]');
        if (next) next.value = path;
        settingsButton.disabled = false;
        sidebar.setCurrent(conversation.id);
        sidebar.upsert(conversation);
        connect();
      })
      .finally(() => {
        state.creating = null;
      });
  }
  await state.creating;
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
  const content = source.querySelector('[data-body]').textContent;
  if (source === el && !el.dataset.messageId) {
    el.remove(); // never reached the server: the new send replaces it
  } else {
    messages.retried(el); // keep the failure in the history, without a second retry
  }
  send(content);
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
  messages.replaceAll(html);
  for (const [clientId, pending] of state.pending) {
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
  if (pending) {
    state.pending.delete(message.client_id);
    pending.el.dataset.messageId = message.id;
    messages.setStatus(pending.el, 'complete');
    state.awaitingStart += 1;
  }
  refreshConversation();
}

async function onStart(event) {
  let reply = replyFor(event.message_id);
  if (!reply && !messages.find(event.message_id)) {
    if (state.awaitingStart === 0) {
      // Started from another tab: fetch its user message too, then sync from a snapshot.
      if (await resync()) state.socket.reconnectNow();
      return;
    }
    messages.addAssistant(event.message_id);
    reply = replyFor(event.message_id);
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
  messages.finish(el, event.html || '', event.status || 'complete');
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
  if (clientId !== undefined) failSend(clientId, event.code, event.message);
  else showError(composerError, describeError(event.code, event.message));
}

// --- titles ------------------------------------------------------------------------------

function showTitle(title) {
  const text = title || t('untitled');
  titleHeading.textContent = text;
  document.title = document.title.replace(/^[^·]*·/, `${text} ·`);
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
