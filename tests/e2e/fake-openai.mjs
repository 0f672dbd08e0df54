// A fake OpenAI-compatible upstream for the browser walk: `POST /v1/chat/completions`
// answers "echo: <last user message>", word by word over SSE when asked to stream, and a
// request for a conversation title with the conversation's first message.
import http from 'node:http'

/** Starts the upstream on a free loopback port; resolves to { server, url, calls }. */
export function startFakeOpenAI() {
  const calls = []
  const server = http.createServer((req, res) => {
    let raw = ''
    req.on('data', (chunk) => { raw += chunk })
    req.on('end', () => {
      if (req.method === 'GET' && req.url.endsWith('/models')) {
        return json(res, 200, { object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model' }] })
      }
      if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
        return json(res, 404, { error: { message: 'not found', type: 'invalid_request_error' } })
      }
      let body
      try { body = JSON.parse(raw) } catch { return json(res, 400, { error: { message: 'bad json' } }) }
      calls.push(body)
      const last = [...(body.messages || [])].reverse().find((m) => m.role === 'user')
      const text = typeof last?.content === 'string'
        ? last.content
        : (last?.content || []).map((p) => p.text || '').join('')
      // weir asks for a conversation's title with the first message after "Message:".
      const titled = text.match(/short title[\s\S]*\nMessage:\n([\s\S]*)$/)
      const answer = titled ? titled[1].trim() : `echo: ${text}`
      const usage = { prompt_tokens: 5, completion_tokens: answer.split(' ').length, total_tokens: 5 + answer.split(' ').length }
      const id = `chatcmpl-${calls.length}`
      if (!body.stream) {
        return json(res, 200, {
          id, object: 'chat.completion', created: 0, model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }],
          usage,
        })
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const words = answer.split(' ')
      const chunk = (delta, finish) => `data: ${JSON.stringify({
        id, object: 'chat.completion.chunk', created: 0, model: body.model,
        choices: [{ index: 0, delta, finish_reason: finish }],
      })}\n\n`
      res.write(chunk({ role: 'assistant', content: '' }, null))
      words.forEach((w, i) => res.write(chunk({ content: i === 0 ? w : ` ${w}` }, null)))
      res.write(chunk({}, 'stop'))
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model: body.model, choices: [], usage })}\n\n`)
      res.end('data: [DONE]\n\n')
    })
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${server.address().port}/v1`, calls })
    })
  })
}

function json(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(value))
}
