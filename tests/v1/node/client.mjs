// The official `openai` npm package against Kaiwa: argv is the base URL and the token.
// Prints one JSON object with what the client saw; errors are reported by class name.
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const messages = [{ role: "user", content: "Hello from Node" }];

const completion = await client.chat.completions.create({ model: "gpt-test", messages });
const stream = await client.chat.completions.create({
  model: "gpt-test",
  messages,
  stream: true,
  stream_options: { include_usage: true },
});
let streamed = "";
let usage = null;
for await (const chunk of stream) {
  streamed += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}
const models = [];
for await (const model of client.models.list()) models.push(model.id);

const errors = {};
for (const [name, call] of [
  ["bad_token", () => new OpenAI({ baseURL, apiKey: "nope", maxRetries: 0 }).models.list()],
  ["n2", () => client.chat.completions.create({ model: "gpt-test", messages, n: 2 })],
  ["unknown_model", () => client.chat.completions.create({ model: "nope", messages })],
]) {
  try {
    await call();
    errors[name] = null;
  } catch (error) {
    errors[name] = { class: error.constructor.name, status: error.status, code: error.code };
  }
}

console.log(
  JSON.stringify({
    completion: completion.choices[0].message.content,
    streamed,
    usage,
    models,
    errors,
  }),
);
