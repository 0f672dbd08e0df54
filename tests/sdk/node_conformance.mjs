// A scripted session with Dify's Node SDK (dify-client 2.3.2, unchanged) against weir.
// Usage: node node_conformance.mjs BASE_URL CHAT_KEY COMPLETION_KEY
import { ChatClient, CompletionClient } from "dify-client";
import FormData from "form-data";

const [base, chatKey, completionKey] = process.argv.slice(2);
const user = "sdk-node";

function check(cond, what) {
  if (!cond) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
}

async function readStream(stream) {
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

const chat = new ChatClient(chatKey, base);
const params = (await chat.getApplicationParameters(user)).data;
check(params.opening_statement.startsWith("Hi!"), "opening statement");

const inputs = { budget: "backpacker", home_city: "Madrid" };
const blocking = (await chat.createChatMessage(inputs, "Hola", user, false)).data;
check(blocking.answer === "echo: Hola", `blocking answer ${blocking.answer}`);
const conversationId = blocking.conversation_id;

const streamed = await chat.createChatMessage(inputs, "Otra vez", user, true, conversationId);
const text = await readStream(streamed.data);
const events = text.split("\n\n").filter((b) => b.startsWith("data: ")).map((b) => JSON.parse(b.slice(6)));
const answer = events.filter((e) => e.event === "message").map((e) => e.answer).join("");
check(answer === "echo: Otra vez", `streamed answer ${answer}`);
check(events.at(-1).event === "message_end", "message_end last");

const messages = (await chat.getConversationMessages(user, conversationId)).data;
check(messages.data.length === 2, "two messages");
await chat.messageFeedback(messages.data[1].id, "dislike", user);

const conversations = (await chat.getConversations(user, null, 10)).data;
check(conversations.data[0].id === conversationId, "conversation listed");
const renamed = (await chat.renameConversation(conversationId, "Madrid trip", user)).data;
check(renamed.name === "Madrid trip", "renamed");

const form = new FormData();
form.append("file", Buffer.from("hello"), { filename: "hello.txt", contentType: "text/plain" });
form.append("user", user);
const upload = await chat.fileUpload(form);
check(upload.status === 201 && upload.data.name === "hello.txt", "upload");

const deleted = await chat.deleteConversation(conversationId, user);
check(deleted.status === 204, `delete ${deleted.status}`);

const completion = new CompletionClient(completionKey, base);
const done = (await completion.createCompletionMessage({ product: "Lamp", facts: "Bright.", tone: "playful" }, user, false)).data;
check(done.answer.startsWith("echo: Product name: Lamp"), `completion answer ${done.answer}`);

console.log("node sdk conformance: ok");
