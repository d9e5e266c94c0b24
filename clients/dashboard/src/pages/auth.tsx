// Signing in and up. Both end with a session whose accounts the user belongs to.

import { useState, type FormEvent } from "react";
import type { Api } from "../api";
import { describeError } from "../api";
import { href } from "../route";

export function SignIn(props: { api: Api; onSession: (answer: Awaited<ReturnType<Api["auth"]["login"]>>) => void; signup: boolean }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [business, setBusiness] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      if (props.signup) await props.api.auth.signup({ email, password, businessName: business });
      props.onSession(await props.api.auth.login({ email, password }));
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth">
      <form className="card" onSubmit={submit} aria-label={props.signup ? "Sign up" : "Sign in"}>
        <div className="brand">paygate</div>
        <h1>{props.signup ? "Create your account" : "Sign in to your dashboard"}</h1>
        {props.signup && (
          <label>
            Business name
            <input value={business} onChange={(e) => setBusiness(e.target.value)} required autoComplete="organization" />
          </label>
        )}
        <label>
          Email
          <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoComplete="email" />
        </label>
        <label>
          Password
          <input
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
            minLength={props.signup ? 12 : undefined}
            autoComplete={props.signup ? "new-password" : "current-password"}
          />
        </label>
        {error && (
          <p className="notice error" role="alert">
            {error}
          </p>
        )}
        <button className="primary" type="submit" disabled={busy}>
          {props.signup ? "Create account" : "Sign in"}
        </button>
        <p className="muted">
          {props.signup ? (
            <>
              Have an account? <a href={href(["login"])}>Sign in</a>
            </>
          ) : (
            <>
              New to paygate? <a href={href(["signup"])}>Create an account</a>
            </>
          )}
        </p>
      </form>
    </main>
  );
}
