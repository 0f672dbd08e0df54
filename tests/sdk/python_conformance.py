"""A scripted session with Dify's Python SDK (dify-client 0.1.10, unchanged) against weir.

Usage: python_conformance.py BASE_URL CHAT_KEY COMPLETION_KEY
Exits non-zero with a message on the first mismatch.
"""
import io
import json
import sys

from dify_client import ChatClient, CompletionClient

base, chat_key, completion_key = sys.argv[1:4]
user = "sdk-python"


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def ok(response, what):
    check(200 <= response.status_code < 300, f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response


chat = ChatClient(chat_key)
chat.base_url = base

params = ok(chat.get_application_parameters(user), "parameters").json()
check(params["opening_statement"].startswith("Hi!"), "opening statement")
check(any("select" in item for item in params["user_input_form"]), "user_input_form")

inputs = {"budget": "luxury", "home_city": "Lisbon"}
blocking = ok(chat.create_chat_message(inputs, "Hello there", user, "blocking"), "chat blocking").json()
check(blocking["answer"] == "echo: Hello there", f"blocking answer {blocking['answer']!r}")
conversation_id = blocking["conversation_id"]

streamed = ok(chat.create_chat_message(inputs, "Second turn", user, "streaming", conversation_id), "chat streaming")
answer, ended = "", False
for line in streamed.iter_lines(decode_unicode=True):
    if line and line.startswith("data: "):
        event = json.loads(line[6:])
        if event["event"] == "message":
            answer += event["answer"]
        if event["event"] == "message_end":
            ended = True
check(answer == "echo: Second turn" and ended, f"streamed answer {answer!r}")

messages = ok(chat.get_conversation_messages(user, conversation_id), "messages").json()
check(len(messages["data"]) == 2, "two messages")
first_message = messages["data"][0]["id"]

ok(chat.message_feedback(first_message, "like", user), "feedback")
messages = ok(chat.get_conversation_messages(user, conversation_id), "messages again").json()
check(messages["data"][0]["feedback"] == {"rating": "like"}, "feedback stored")

conversations = ok(chat.get_conversations(user, limit=10, pinned=False), "conversations").json()
check(conversations["data"][0]["id"] == conversation_id, "conversation listed")
renamed = ok(chat.rename_conversation(conversation_id, "Lisbon plans", user), "rename").json()
check(renamed["name"] == "Lisbon plans", "renamed")

upload = ok(chat.file_upload(user, {"file": ("notes.txt", io.BytesIO(b"hello file"), "text/plain")}), "upload")
check(upload.status_code == 201 and upload.json()["name"] == "notes.txt", "upload answer")

deleted = chat._send_request("DELETE", f"/conversations/{conversation_id}", {"user": user})
check(deleted.status_code == 204, f"delete: {deleted.status_code}")
conversations = ok(chat.get_conversations(user), "conversations after delete").json()
check(all(c["id"] != conversation_id for c in conversations["data"]), "deleted conversation gone")

completion = CompletionClient(completion_key)
completion.base_url = base
done = ok(completion.create_completion_message(
    {"product": "Aurora Lamp", "facts": "Solar powered.", "tone": "playful"}, "blocking", user), "completion").json()
check(done["answer"].startswith("echo: Product name: Aurora Lamp"), f"completion answer {done['answer']!r}")

print("python sdk conformance: ok")
