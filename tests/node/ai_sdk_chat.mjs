// Drives a UI-message-stream endpoint with the `ai` package's own client side, as
// `useChat` does: an AbstractChat (the class @ai-sdk/react's Chat extends) over a
// DefaultChatTransport, which parses the stream with uiMessageChunkSchema and builds the
// messages with the SDK's own reducer. `node ai_sdk_chat.mjs PLAN_JSON`; the plan is
// {url, id, steps}, a step {message: "text"} (sendMessage) or {decide: {approved,
// reason?}} (addToolApprovalResponse for every waiting approval; the chat then sends
// itself, by lastAssistantMessageIsCompleteWithApprovalResponses). Prints one JSON line
// per step: the raw chunks received, the chat's messages, status, error and finish.
import {
  AbstractChat,
  DefaultChatTransport,
  lastAssistantMessageIsCompleteWithApprovalResponses,
} from "ai";

class State {
  constructor() {
    this.status = "ready";
    this.error = undefined;
    this.messages = [];
  }
  pushMessage(message) { this.messages = [...this.messages, message]; }
  popMessage() { this.messages = this.messages.slice(0, -1); }
  replaceMessage(index, message) {
    this.messages = [...this.messages.slice(0, index), message, ...this.messages.slice(index + 1)];
  }
  snapshot(thing) { return structuredClone(thing); }
}

class Chat extends AbstractChat {
  constructor(options) { super({ ...options, state: new State() }); }
}

const plan = JSON.parse(process.argv[2]);
let chunks = [];
let settle = null;
let finish = null;
const recordingFetch = async (input, init) => {
  const response = await fetch(input, init);
  const text = await response.text();
  for (const block of text.split("\n\n")) {
    if (block.startsWith("data: ") && block !== "data: [DONE]") chunks.push(JSON.parse(block.slice(6)));
    else if (block) chunks.push({ raw: block });
  }
  return new Response(text, { status: response.status, headers: response.headers });
};
const chat = new Chat({
  id: plan.id,
  transport: new DefaultChatTransport({ api: plan.url, fetch: recordingFetch }),
  sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  onFinish: (options) => { finish = { finishReason: options.finishReason, isError: options.isError }; settle?.(); },
  onError: () => { settle?.(); },
});

for (const step of plan.steps) {
  chunks = [];
  finish = null;
  const done = new Promise((resolve) => { settle = resolve; });
  if (step.message !== undefined) {
    await chat.sendMessage({ text: step.message });
  } else {
    const waiting = chat.lastMessage.parts.filter((p) => p.state === "approval-requested");
    for (const part of waiting) {
      await chat.addToolApprovalResponse({ id: part.approval.id, ...step.decide });
    }
  }
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 60000).unref())]);
  process.stdout.write(JSON.stringify({
    chunks,
    messages: chat.messages,
    status: chat.status,
    error: chat.error ? String(chat.error.message) : null,
    finish,
  }) + "\n");
}
