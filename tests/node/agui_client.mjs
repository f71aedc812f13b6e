// Drives an AG-UI endpoint with the official @ag-ui/client (HttpAgent), as a front-end
// would: `node agui_client.mjs PLAN_JSON`. The plan is {url, threadId, steps}; a step is
// {message: "text", context?: [...]} (a user message, then a run) or {decide: {approved,
// reason?}} (a run resuming every pending interrupt with that payload). Prints one JSON
// line per step: the events the client saw, its messages, state and pending interrupts,
// the run's result, or the error it raised.
import { HttpAgent } from "@ag-ui/client";

const plan = JSON.parse(process.argv[2]);
const agent = new HttpAgent({ url: plan.url, threadId: plan.threadId });
let counter = 0;
for (const step of plan.steps) {
  const events = [];
  const subscriber = { onEvent: ({ event }) => { events.push(event); } };
  const options = {};
  if (step.message !== undefined) {
    agent.addMessage({ id: `user-${++counter}`, role: "user", content: step.message });
    if (step.context) options.context = step.context;
  } else {
    options.resume = agent.pendingInterrupts.map((interrupt) => ({
      interruptId: interrupt.id,
      status: "resolved",
      payload: step.decide,
    }));
  }
  const line = { events };
  try {
    const { result, newMessages } = await agent.runAgent(options, subscriber);
    line.result = result;
    line.newMessages = newMessages;
  } catch (error) {
    line.error = String(error && error.message ? error.message : error);
  }
  line.messages = agent.messages;
  line.state = agent.state;
  line.interrupts = agent.pendingInterrupts;
  process.stdout.write(JSON.stringify(line) + "\n");
}
