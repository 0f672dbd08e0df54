// Starts what the browser walk needs: the fake upstream, weir (on a fresh SQLite file) and
// Dify's web frontend, each on a free loopback port; stops them all on `stop()`.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { startFakeOpenAI } from './fake-openai.mjs'

/** A free loopback port. */
async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** Resolves when `url` answers (any status), or rejects after `ms`. */
async function waitFor(url, ms, child) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: the process exited with ${child.exitCode}`)
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000) })
      return
    } catch { await new Promise((r) => setTimeout(r, 250)) }
  }
  throw new Error(`${url} did not answer within ${ms} ms`)
}

/**
 * A stand-in for Dify's public plugin marketplace, which the model selector queries
 * whatever the backend says: every call gets an empty list (with CORS for the browser).
 */
async function startMarketplaceStub() {
  const server = http.createServer((req, res) => {
    req.resume()
    res.writeHead(req.method === 'OPTIONS' ? 204 : 200, {
      'access-control-allow-origin': req.headers.origin || '*',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': req.headers['access-control-request-headers'] || '*',
      'content-type': 'application/json',
    })
    res.end(req.method === 'OPTIONS' ? '' : JSON.stringify({ data: { plugins: [], collections: [], total: 0 } }))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${server.address().port}` }
}

function startProcess(name, cmd, args, options, logDir) {
  const log = fs.openSync(path.join(logDir, `${name}.log`), 'w')
  return spawn(cmd, args, { ...options, stdio: ['ignore', log, log], detached: true })
}

/**
 * Starts the stack. `weirBin`: the weir binary; `frontendEntry`: the frontend's `start.sh`
 * or Next.js `server.js`; `workDir`: where the database, config and logs go.
 */
export async function startStack({ weirBin, frontendEntry, workDir }) {
  fs.mkdirSync(workDir, { recursive: true })
  const upstream = await startFakeOpenAI()
  const marketplace = await startMarketplaceStub()
  const apiPort = await freePort()
  const webPort = await freePort()
  const api = `http://127.0.0.1:${apiPort}`
  const web = `http://127.0.0.1:${webPort}`
  const config = path.join(workDir, 'weir.toml')
  fs.writeFileSync(config, [
    `bind = "127.0.0.1:${apiPort}"`,
    `database_url = "sqlite://${path.join(workDir, 'weir.db')}"`,
    `data_dir = "${path.join(workDir, 'data')}"`,
    `console_web_url = "${web}"`,
    `log = "info,weir=debug"`,
    '',
    '[providers.openai]',
    `base_url = "${upstream.url}"`,
    'api_key = "sk-e2e"',
    'llm_models = ["gpt-4o-mini"]',
    '',
  ].join('\n'))
  const children = []
  const weir = startProcess('weir', weirBin, ['--config', config, 'serve'], { cwd: workDir }, workDir)
  children.push(weir)
  await waitFor(`${api}/console/api/system-features`, 30000, weir)
  // `start.sh` maps Dify's Docker variables itself; a bare Next.js `server.js` reads its own.
  const env = {
    ...process.env,
    CONSOLE_API_URL: api,
    APP_API_URL: api,
    MARKETPLACE_API_URL: marketplace.url,
    MARKETPLACE_URL: marketplace.url,
    NEXT_PUBLIC_API_PREFIX: `${api}/console/api`,
    NEXT_PUBLIC_PUBLIC_API_PREFIX: `${api}/api`,
    NEXT_PUBLIC_MARKETPLACE_API_PREFIX: `${marketplace.url}/api/v1`,
    NEXT_PUBLIC_MARKETPLACE_URL_PREFIX: marketplace.url,
    NEXT_PUBLIC_EDITION: 'SELF_HOSTED',
    NEXT_TELEMETRY_DISABLED: '1',
    NODE_ENV: 'production',
    PORT: String(webPort),
    HOSTNAME: '127.0.0.1',
  }
  const [cmd, args] = frontendEntry.endsWith('.sh') ? ['sh', [frontendEntry]] : ['node', [frontendEntry]]
  const front = startProcess('web', cmd, args, { cwd: path.dirname(frontendEntry), env }, workDir)
  children.push(front)
  await waitFor(`${web}/`, 60000, front)
  return {
    api, web, upstream, workDir,
    async stop() {
      for (const child of children) {
        try { process.kill(-child.pid, 'SIGTERM') } catch { /* already gone */ }
      }
      upstream.server.close()
      marketplace.server.close()
    },
  }
}
