// What every browser script of the e2e tests shares: Debian's chromium launched headless
// (as root it needs --no-sandbox; /dev/shm is small in containers), and a bound on a
// step so that a hung page fails its scenario instead of the whole run.
import { chromium } from "playwright-core";

export function launch(executablePath, timeout) {
  return chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
    timeout,
  });
}

export function withTimeout(promise, ms, what = "the run") {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}
