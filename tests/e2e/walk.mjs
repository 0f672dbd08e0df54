// The browser walk of issue 14: Dify's own web frontend on weir, from the install page to a
// conversation seen in the app's logs. Run by tests/e2e/run.sh, which provides the paths.
import fs from 'node:fs'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { startStack } from './stack.mjs'

const ADMIN = { email: 'admin@example.com', name: 'Admin', password: 'e2e-Password-1' }
const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set (tests/e2e/run.sh sets it)`)
  return value
}
const artefacts = env('WEIR_E2E_ARTEFACTS')
fs.rmSync(artefacts, { recursive: true, force: true })
fs.mkdirSync(artefacts, { recursive: true })

const stack = await startStack({
  weirBin: env('WEIR_E2E_BIN'),
  frontendEntry: env('WEIR_E2E_WEB_ENTRY'),
  workDir: path.join(artefacts, 'stack'),
})
const browser = await chromium.launch({
  executablePath: process.env.WEIR_E2E_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
})
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' })
const consoleErrors = []
const failedCalls = []
let page
let stepNo = 0
let current = 'start'
// While signed out the console asks for the profile, is refused (401) and tries a refresh
// (401), as on Dify; the browser logs those refusals as errors, which the walk expects.
let signedOut = false

/** Opens a page that records what the frontend logs as errors and the API calls that failed. */
async function watch(p) {
  p.on('console', (msg) => {
    if (msg.type() !== 'error') return
    if (signedOut && msg.text().includes('status of 401')) return
    consoleErrors.push(`[${current}] ${msg.text()} (${p.url()})`)
  })
  p.on('pageerror', (err) => consoleErrors.push(`[${current}] page error: ${err.message}`))
  p.on('response', (res) => {
    if (res.status() >= 400 && res.url().startsWith(stack.api)) {
      failedCalls.push(`[${current}] ${res.request().method()} ${res.url()} → ${res.status()}`)
    }
  })
  return p
}

/** Runs one step of the walk and saves a screenshot of where it ended. */
async function step(name, fn) {
  current = name
  stepNo += 1
  const shot = path.join(artefacts, `${String(stepNo).padStart(2, '0')}-${name}.png`)
  try {
    await fn()
    await page.waitForTimeout(300)
    await page.screenshot({ path: shot })
    console.log(`ok   ${stepNo} ${name}`)
  } catch (err) {
    await page.screenshot({ path: shot.replace('.png', '-FAILED.png') }).catch(() => {})
    throw new Error(`step ${stepNo} (${name}): ${err.message}`)
  }
}

let failure = null
try {
  page = await watch(await context.newPage())
  await walk()
} catch (err) {
  failure = err
} finally {
  await browser.close().catch(() => {})
  await stack.stop()
}
if (failedCalls.length) console.log(`API calls that failed:\n  ${failedCalls.join('\n  ')}`)
if (consoleErrors.length) {
  console.error(`the frontend logged ${consoleErrors.length} error(s):\n  ${consoleErrors.join('\n  ')}`)
}
if (failure) {
  console.error(`FAILED: ${failure.message}\nlogs and screenshots: ${artefacts}`)
  process.exit(1)
}
if (consoleErrors.length) process.exit(1)
console.log(`the walk passed; screenshots in ${artefacts}`)

async function walk() {
  await step('install-page', async () => {
    await page.goto(`${stack.web}/install`)
    await page.locator('#email').waitFor()
  })
  await step('first-admin', async () => {
    await page.fill('#email', ADMIN.email)
    await page.fill('#name', ADMIN.name)
    await page.fill('#password', ADMIN.password)
    await page.locator('button[type=submit]').click()
    await page.waitForURL('**/apps', { timeout: 30000 })
  })
  await step('login', async () => {
    signedOut = true
    await context.clearCookies()
    await page.goto(`${stack.web}/signin`)
    await page.fill('#email', ADMIN.email)
    await page.fill('#password', ADMIN.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL('**/apps', { timeout: 30000 })
    signedOut = false
  })
  await step('create-chat-app', async () => {
    await page.getByText('Create from Blank').first().click()
    await page.getByText('More basic app types').click()
    await page.getByRole('dialog').getByText('Chatbot', { exact: true }).click()
    await page.getByPlaceholder('Give your app a name').fill('E2E Chat')
    await page.getByRole('dialog').getByRole('button', { name: /^Create/ }).click()
    await page.waitForURL('**/app/*/configuration', { timeout: 30000 })
    await page.waitForTimeout(3000)
  })
  await step('choose-model', async () => {
    await page.getByText('gpt-4o-mini').first().click()
    const panel = page.locator('div').filter({ hasText: /^Model Settings/ }).last()
    await page.getByText('Model Settings').waitFor()
    await page.getByText('gpt-4o-mini').nth(1).click()
    await page.waitForTimeout(1000)
    await page.screenshot({ path: path.join(artefacts, '05a-model-list.png') })
    await page.getByText('gpt-4o-mini', { exact: true }).last().click()
    await page.waitForTimeout(500)
    await page.keyboard.press('Escape')
    void panel
  })
  await step('prompt', async () => {
    await page.locator('[contenteditable=true]').first().click()
    await page.keyboard.type('You are a helpful assistant for the e2e walk.')
    await page.getByText('You are a helpful assistant for the e2e walk.').waitFor()
  })
  await step('preview-chat', async () => {
    const answered = page.waitForResponse((r) => r.url().endsWith('/chat-messages') && r.request().method() === 'POST')
    await page.getByPlaceholder('Talk to Bot').fill('Hello weir')
    await page.keyboard.press('Enter')
    await page.getByText('echo: Hello weir').waitFor({ timeout: 30000 })
    // Streamed: an event stream of several `message` chunks, then `message_end`.
    const res = await answered
    const events = (await res.text()).split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)).event)
    const chunks = events.filter((e) => e === 'message').length
    if (!res.headers()['content-type'].startsWith('text/event-stream') || chunks < 2 || !events.includes('message_end')) {
      throw new Error(`the preview was not streamed: ${res.headers()['content-type']} ${events.join(',')}`)
    }
    // The model got the prompt typed into the instructions.
    const call = stack.upstream.calls.find((c) => c.stream && c.messages.some((m) => m.content === 'Hello weir'))
    if (!call?.messages.some((m) => m.role === 'system' && m.content.includes('helpful assistant for the e2e walk'))) {
      throw new Error(`the upstream did not get the prompt: ${JSON.stringify(call?.messages)}`)
    }
  })
  await step('publish', async () => {
    await page.getByRole('button', { name: 'Publish' }).first().click()
    await page.getByRole('button', { name: /Publish Update/ }).click()
    await page.getByText('Published').first().waitFor()
  })
  let apiKey
  await step('api-key', async () => {
    await page.getByText('API Access').click()
    await page.waitForURL('**/develop')
    await page.getByRole('button', { name: /API Key/ }).first().click()
    await page.getByRole('button', { name: /Create new Secret key/ }).click()
    const key = page.getByText(/^app-[A-Za-z0-9]{24}$/).first()
    await key.waitFor()
    apiKey = (await key.textContent()).trim()
    await page.screenshot({ path: path.join(artefacts, '09a-secret-key.png') })
    await page.getByRole('button', { name: 'OK', exact: true }).click()
    // Both dialogs bear the same name: tell the new key's from the list by their text.
    const dialog = page.getByRole('dialog', { name: 'API Secret key' })
    await dialog.filter({ hasText: 'Keep this key' }).waitFor({ state: 'hidden' })
    const keys = dialog.filter({ hasText: 'Create new Secret key' })
    await keys.locator('svg.cursor-pointer').first().click()
    await keys.waitFor({ state: 'hidden' })
  })
  await step('service-api-call', async () => {
    const res = await fetch(`${stack.api}/v1/chat-messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: {}, query: 'Hi from the API', user: 'e2e-api', response_mode: 'blocking' }),
    })
    const body = await res.json()
    if (res.status !== 200 || body.answer !== 'echo: Hi from the API') {
      throw new Error(`/v1/chat-messages answered ${res.status}: ${JSON.stringify(body)}`)
    }
  })
  let webAppUrl
  await step('open-web-app', async () => {
    await page.getByText('Orchestrate').first().click()
    await page.getByRole('button', { name: 'Publish' }).first().click()
    const [popup] = await Promise.all([
      context.waitForEvent('page'),
      page.getByText('Run App').click(),
    ])
    await popup.waitForLoadState()
    webAppUrl = popup.url()
    await popup.close()
    if (!/\/chat\/[A-Za-z0-9]+/.test(webAppUrl)) throw new Error(`Run App opened ${webAppUrl}`)
  })
  const consolePage = page
  const endUser = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' })
  await step('web-app-chat', async () => {
    page = await watch(await endUser.newPage())
    await page.goto(webAppUrl)
    await page.getByPlaceholder(/Talk to/).fill('Hello from the web app')
    await page.keyboard.press('Enter')
    await page.getByText('echo: Hello from the web app').waitFor({ timeout: 30000 })
  })
  await step('logs', async () => {
    page = consolePage
    await page.getByText('Logs & Annotations').click()
    await page.waitForURL('**/logs')
    await page.getByText('Hello from the web app').first().waitFor({ timeout: 30000 })
    await page.getByText('Hello from the web app').first().click()
    await page.getByText('echo: Hello from the web app').first().waitFor()
  })
}
