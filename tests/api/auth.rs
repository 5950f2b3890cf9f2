//! Every GraphQL request needs a valid token of an active user.

use std::time::{SystemTime, UNIX_EPOCH};

use entity::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, TestApp, fixture, jwt_config};

const ME: &str = "{ me { email role } }";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn sign(header: Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn hs256(claims: &Value) -> String {
    sign(Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(TEST_SECRET.as_bytes()))
}

async fn refused(app: &TestApp, token: Option<&str>) -> (u16, Value) {
    let mut request = app.client.post(app.url("/graphql")).json(&json!({ "query": ME }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    (status, body)
}

async fn assert_unauthenticated(app: &TestApp, token: Option<&str>, case: &str) {
    let (status, body) = refused(app, token).await;
    assert_eq!(status, 401, "{case}: {body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{case}: {body}");
    assert!(body.get("data").is_none() || body["data"].is_null(), "{case}: {body}");
}

#[tokio::test]
async fn a_valid_token_identifies_the_user() {
    let app = TestApp::spawn().await;
    let rep = app.user(Role::SalesRep).await;
    let data = app.data(&rep, ME, json!({})).await;
    assert_eq!(data["me"]["email"], rep.email.as_str());
    assert_eq!(data["me"]["role"], "SALES_REP");
}

#[tokio::test]
async fn missing_expired_forged_and_malformed_tokens_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Admin).await;
    let sub = user.id.to_string();
    let other_key = EncodingKey::from_secret(b"some-other-secret-of-good-length!!");
    let secret = EncodingKey::from_secret(TEST_SECRET.as_bytes());
    let rsa = EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa_private.pem")).expect("key")).expect("rsa");
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("not a JWT", Some("not-a-jwt".into())),
        ("expired", Some(hs256(&json!({ "sub": sub, "exp": now() - 3600 })))),
        ("not yet valid", Some(hs256(&json!({ "sub": sub, "exp": now() + 3600, "nbf": now() + 600 })))),
        ("no exp", Some(hs256(&json!({ "sub": sub })))),
        ("exp as a string", Some(hs256(&json!({ "sub": sub, "exp": (now() + 3600).to_string() })))),
        ("nbf as a string", Some(hs256(&json!({ "sub": sub, "exp": now() + 3600, "nbf": now().to_string() })))),
        ("exp as a float string", Some(hs256(&json!({ "sub": sub, "exp": "1e12" })))),
        ("expired beyond the leeway", Some(hs256(&json!({ "sub": sub, "exp": now() - 60 })))),
        ("nbf beyond the leeway", Some(hs256(&json!({ "sub": sub, "exp": now() + 3600, "nbf": now() + 60 })))),
        ("unknown kid", Some(sign(kid_header("some-other-key"), &json!({ "sub": sub, "exp": now() + 3600 }), &secret))),
        ("sub an integer", Some(hs256(&json!({ "sub": 42, "exp": now() + 3600 })))),
        ("empty", Some(String::new())),
        ("two parts", Some("eyJhbGciOiJIUzI1NiJ9.e30".into())),
        ("no sub", Some(hs256(&json!({ "exp": now() + 3600 })))),
        ("sub not a user id", Some(hs256(&json!({ "sub": "admin", "exp": now() + 3600 })))),
        ("unknown user", Some(hs256(&json!({ "sub": uuid::Uuid::now_v7().to_string(), "exp": now() + 3600 })))),
        (
            "wrong secret",
            Some(sign(Header::new(Algorithm::HS256), &json!({ "sub": sub, "exp": now() + 3600 }), &other_key)),
        ),
        (
            "wrong algorithm",
            Some(sign(Header::new(Algorithm::RS256), &json!({ "sub": sub, "exp": now() + 3600 }), &rsa)),
        ),
        (
            "alg none",
            Some(format!(
                "{}.{}.",
                b64(r#"{"alg":"none","typ":"JWT"}"#),
                b64(&json!({ "sub": sub, "exp": now() + 3600 }).to_string())
            )),
        ),
        ("flipped payload", Some(flip_payload(&hs256(&json!({ "sub": sub, "exp": now() + 3600 }))))),
    ];
    let logs = LogCapture::start();
    for (case, token) in &cases {
        assert_unauthenticated(&app, token.as_deref(), case).await;
    }
    // Each refusal is logged with its reason, and no token (or its signature) ever is.
    let logged = logs.text();
    assert!(logged.matches("token refused").count() >= 15, "{logged}");
    for (case, token) in cases.iter().filter_map(|(case, token)| Some((case, token.as_deref()?))) {
        for part in token.split('.').filter(|part| part.len() >= 16) {
            assert!(!logged.contains(part), "{case}: the token was logged:\n{logged}");
        }
    }
    // The server still serves valid requests afterwards.
    app.data(&user, ME, json!({})).await;
}

#[tokio::test]
async fn the_issuer_and_key_id_are_checked_when_configured() {
    let mut jwt = jwt_config(Some(TEST_SECRET), None, None);
    jwt.issuer = Some("https://id.example.com".into());
    jwt.key_id = Some("baton-2026".into());
    let app = TestApp::spawn_with(jwt).await;
    let user = app.user(Role::Viewer).await;
    let sub = user.id.to_string();
    let secret = EncodingKey::from_secret(TEST_SECRET.as_bytes());
    let claims = |iss: Option<&str>| {
        let mut claims = json!({ "sub": sub, "exp": now() + 3600 });
        if let Some(iss) = iss {
            claims["iss"] = json!(iss);
        }
        claims
    };
    let right = sign(kid_header("baton-2026"), &claims(Some("https://id.example.com")), &secret);
    let (status, body) = refused(&app, Some(&right)).await;
    assert_eq!(status, 200, "{body}");
    // The server's own tokens carry both.
    app.data(&user, ME, json!({})).await;
    for (case, token) in [
        ("wrong issuer", sign(kid_header("baton-2026"), &claims(Some("https://evil.example.com")), &secret)),
        ("no issuer", sign(kid_header("baton-2026"), &claims(None), &secret)),
        ("no kid", sign(Header::new(Algorithm::HS256), &claims(Some("https://id.example.com")), &secret)),
        ("other kid", sign(kid_header("baton-2025"), &claims(Some("https://id.example.com")), &secret)),
    ] {
        assert_unauthenticated(&app, Some(&token), case).await;
    }
}

fn kid_header(kid: &str) -> Header {
    Header { kid: Some(kid.to_owned()), ..Header::new(Algorithm::HS256) }
}

/// Collects what the server logs on this thread (tests run the server on their own
/// single-threaded runtime, so its tasks log here).
struct LogCapture {
    buffer: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl LogCapture {
    fn start() -> Self {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = {
            let buffer = buffer.clone();
            move || CaptureWriter(buffer.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(writer)
            .with_ansi(false)
            .finish();
        Self { buffer, _guard: tracing::subscriber::set_default(subscriber) }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().expect("log buffer")).into_owned()
    }
}

struct CaptureWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_deactivated_users_token_stops_working() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Marketing).await;
    app.data(&user, ME, json!({})).await;
    baton::service::user::set_active(&app.state.db, user.id, false).await.expect("deactivate");
    // The user row read for the token a moment ago is trusted for at most USER_CACHE_TTL.
    let deactivated = std::time::Instant::now();
    loop {
        let (status, _) = refused(&app, Some(&user.token)).await;
        if status == 401 {
            break;
        }
        assert!(deactivated.elapsed() < baton::auth::USER_CACHE_TTL * 3, "the token still works");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_unauthenticated(&app, Some(&user.token), "deactivated").await;
}

#[tokio::test]
async fn audience_is_checked_when_configured() {
    let app = TestApp::spawn_with(jwt_config(Some(TEST_SECRET), None, Some("baton"))).await;
    let user = app.user(Role::Viewer).await;
    let sub = user.id.to_string();
    let right = hs256(&json!({ "sub": sub, "exp": now() + 3600, "aud": "baton" }));
    let wrong = hs256(&json!({ "sub": sub, "exp": now() + 3600, "aud": "someone-else" }));
    let missing = hs256(&json!({ "sub": sub, "exp": now() + 3600 }));
    let (status, body) = refused(&app, Some(&right)).await;
    assert_eq!(status, 200, "{body}");
    assert_unauthenticated(&app, Some(&wrong), "wrong audience").await;
    assert_unauthenticated(&app, Some(&missing), "missing audience").await;
}

#[tokio::test]
async fn public_key_tokens_verify_and_hs256_with_the_public_key_is_refused() {
    for (public, private, algorithm) in [
        ("rsa_public.pem", "rsa_private.pem", Algorithm::RS256),
        ("ec_public.pem", "ec_private.pem", Algorithm::ES256),
        ("ed_public.pem", "ed_private.pem", Algorithm::EdDSA),
    ] {
        let app = TestApp::spawn_with(jwt_config(None, Some(public), None)).await;
        let user = app.user_without_token(Role::Admin).await;
        let claims = json!({ "sub": user.to_string(), "exp": now() + 3600 });
        let pem = std::fs::read(fixture(private)).expect("private key");
        let key = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_ed_pem(&pem),
        }
        .expect("key");
        let (status, body) = refused(&app, Some(&sign(Header::new(algorithm), &claims, &key))).await;
        assert_eq!(status, 200, "{algorithm:?}: {body}");
        // The classic confusion attack: HS256 keyed with the public key's bytes.
        let public_bytes = std::fs::read(fixture(public)).expect("public key");
        let forged = sign(Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&public_bytes));
        assert_unauthenticated(&app, Some(&forged), "HS256 signed with the public key").await;
    }
}

#[tokio::test]
async fn expiry_has_only_a_small_leeway() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Admin).await;
    let just_expired = hs256(&json!({ "sub": user.id.to_string(), "exp": now() - 2 }));
    let (status, _) = refused(&app, Some(&just_expired)).await;
    assert_eq!(status, 200, "within the 5 s leeway");
    let long_expired = hs256(&json!({ "sub": user.id.to_string(), "exp": now() - 60 }));
    assert_unauthenticated(&app, Some(&long_expired), "beyond the leeway").await;
}

#[tokio::test]
async fn a_token_accepted_before_is_refused_once_it_expires() {
    let app = TestApp::spawn().await;
    let user = app.user(Role::Admin).await;
    let exp = now() - 3;
    let token = hs256(&json!({ "sub": user.id.to_string(), "exp": exp }));
    let (status, _) = refused(&app, Some(&token)).await;
    assert_eq!(status, 200, "within the 5 s leeway");
    // Past `exp` plus the leeway, in the whole seconds the validator counts.
    while now() <= exp + 5 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_unauthenticated(&app, Some(&token), "expired since it was last accepted").await;
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn flip_payload(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = &mut parts[1];
    let last = payload.pop().unwrap_or('A');
    payload.push(if last == 'A' { 'B' } else { 'A' });
    parts.join(".")
}
