// Drives static/kaiwa/client.js in the page: the SSE parser at every split, then the client.
async (token) => {
  const { KaiwaClient, KaiwaError, SSEParser } = await import('/static/kaiwa/client.js');

  // CRLF, CR and LF line ends, a comment, multi-line data, and an unterminated last event.
  const stream = 'id: 1\r\ndata: {"a":1}\r\n\r\n: keep-alive\n\n'
    + 'id: 2\ndata: {"b":\ndata: 2}\n\n'
    + 'id: 3\rdata: {"c":"語"}\r\rdata: tail-without-blank-line';
  const splits = new Set();
  for (let cut = 0; cut <= stream.length; cut += 1) {
    for (let cut2 = cut; cut2 <= stream.length; cut2 += 7) {
      const seen = [];
      const parser = new SSEParser((event) => seen.push(`${event.id}|${event.data}`));
      parser.push(stream.slice(0, cut));
      parser.push(stream.slice(cut, cut2));
      parser.push(stream.slice(cut2));
      parser.end();
      splits.add(seen.join(' / '));
    }
  }

  const client = new KaiwaClient({ baseURL: location.origin, token });
  const events = [];
  const streamed = await client.streamChat('こんにちは', (event) => events.push(event), {
    temperature: 0.2,
  });
  const answer = await client.chat('二回目', { conversation_id: streamed.conversationId });
  const resumed = [];
  const again = await client.resume(streamed.messageId, 1, (event) => resumed.push(event));

  let refused = null;
  try {
    await new KaiwaClient({ baseURL: location.origin, token: 'kaiwa_wrong' }).chat('x');
  } catch (error) {
    refused = {
      isKaiwaError: error instanceof KaiwaError,
      status: error.status,
      code: error.code,
    };
  }
  return { splits: [...splits], events, streamed, answer, resumed, again, refused };
}
