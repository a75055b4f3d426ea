// The unmodified AWS SDK for JavaScript v3 Q Business client against `qbizfed local aws`,
// with its default request handler (HTTP/2 with prior knowledge to an http:// endpoint).
// Input (environment): AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN (identity-aware credentials from the local STS), QBIZFED_APP_ID,
// QBIZFED_MISSING_APP_ID. Output: one JSON object on stdout for the Python test to check.
import {
  QBusinessClient,
  ChatSyncCommand,
  ListConversationsCommand,
  GetApplicationCommand,
  ResourceNotFoundException,
  AccessDeniedException,
} from "@aws-sdk/client-qbusiness";

const client = new QBusinessClient({
  endpoint: process.env.AWS_ENDPOINT_URL,
  region: process.env.AWS_REGION,
  maxAttempts: 1,
});
const applicationId = process.env.QBIZFED_APP_ID;
const out = { handler: client.config.requestHandler?.constructor?.name ?? null };

async function chatSync(userMessage) {
  try {
    return await client.send(new ChatSyncCommand({ applicationId, userMessage }));
  } catch (err) {
    // The documented first call: AccessDenied while the subscription is created.
    if (err instanceof AccessDeniedException) {
      out.firstCallRefusal = err.message;
      return await client.send(new ChatSyncCommand({ applicationId, userMessage }));
    }
    throw err;
  }
}

try {
  const chat = await chatSync("How many vacation days do I get?");
  out.chat = {
    conversationId: chat.conversationId,
    systemMessage: chat.systemMessage,
    sources: (chat.sourceAttributions ?? []).map((s) => s.title),
    httpStatusCode: chat.$metadata.httpStatusCode,
  };
  const listed = await client.send(new ListConversationsCommand({ applicationId }));
  out.conversations = (listed.conversations ?? []).map((c) => c.conversationId);
  try {
    await client.send(
      new GetApplicationCommand({ applicationId: process.env.QBIZFED_MISSING_APP_ID }),
    );
    out.error = null;
  } catch (err) {
    out.error = {
      name: err.name,
      isResourceNotFound: err instanceof ResourceNotFoundException,
      message: err.message,
      httpStatusCode: err.$metadata?.httpStatusCode,
      fault: err.$fault,
    };
  }
} catch (err) {
  out.unexpected = { name: err?.name, message: err?.message, code: err?.code };
}
process.stdout.write(JSON.stringify(out) + "\n");
