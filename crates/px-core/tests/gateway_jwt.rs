//! The identity token Core adds to proxied requests (SPEC §3.2): HS256 with
//! the plugin's own `POWERX_SECURITY_JWT_SECRET`, claims as PowerX's gateway
//! mints them, checked by two verifiers that are not Core's code (the
//! `jsonwebtoken` crate and PyJWT); none for an anonymous caller; no
//! identity header of the caller's reaches the plugin, whatever its spelling.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{Core, HELLO};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

const OTHER: &str = "com.example.other";

/// The secret the plugin was given, from its process's environment.
fn secret_of(core: &Core, id: &str) -> String {
    let pid = common::plugin_pids(id, core.data.path())[0];
    common::environ(pid)
        .into_iter()
        .find(|(k, _)| k == "POWERX_SECURITY_JWT_SECRET")
        .map(|(_, v)| v)
        .expect("POWERX_SECURITY_JWT_SECRET in the plugin's environment")
}

/// The headers the plugin saw for `GET <path>` with `headers` and, if any,
/// `token` as the bearer.
async fn seen(core: &Core, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Value {
    let mut request = core.client.get(format!("{}{path}", core.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The JWT in the `authorization` header the plugin saw.
fn jwt(seen: &Value) -> String {
    let value = seen["authorization"]
        .as_str()
        .unwrap_or_else(|| panic!("no Authorization reached the plugin: {seen}"));
    value
        .strip_prefix("Bearer ")
        .unwrap_or_else(|| panic!("not a bearer token: {value}"))
        .to_owned()
}

/// Verifies with the `jsonwebtoken` crate: HS256, issuer, audience, times.
fn verify(token: &str, secret: &str, audience: &str) -> jsonwebtoken::errors::Result<Value> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["powerx-auth"]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    let key = DecodingKey::from_secret(secret.as_bytes())?;
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|data| data.claims)
}

/// Verifies with PyJWT in a Python subprocess; `Ok(claims)` or PyJWT's error.
fn verify_in_python(token: &str, secret: &str, audience: &str) -> Result<Value, String> {
    const SCRIPT: &str = r#"
import json, os, sys
try:
    import jwt
except ImportError:
    sys.exit(3)
try:
    claims = jwt.decode(
        os.environ["TOKEN"], os.environ["SECRET"], algorithms=["HS256"],
        audience=os.environ["AUDIENCE"], issuer="powerx-auth",
        options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub"]},
    )
except jwt.PyJWTError as error:
    print(type(error).__name__, error, file=sys.stderr)
    sys.exit(1)
print(json.dumps(claims))
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .env("TOKEN", token)
        .env("SECRET", secret)
        .env("AUDIENCE", audience)
        .output()
        .expect("python3 runs");
    assert_ne!(
        output.status.code(),
        Some(3),
        "PyJWT is missing for python3: install it with `python3 -m pip install PyJWT` \
         (scripts/test does); this test verifies Core's tokens with it"
    );
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// `id` installed with an admin process (the same server, `HELLO_ROLE=admin`).
async fn install(core: &Core, id: &str) {
    let dir = core.plugin(id, id, "1.0.0", |m| {
        m["admin"]["process"] = json!({
            "entry": "python3",
            "args": ["-u", "server.py"],
            "env": { "HELLO_ROLE": "admin" },
            "health": { "path": "/healthz" }
        });
    });
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn proxied_requests_carry_a_jwt_signed_for_the_plugin_alone() {
    let core = Core::start().await;
    install(&core, HELLO).await;
    install(&core, OTHER).await;
    let secret = secret_of(&core, HELLO);
    let other_secret = secret_of(&core, OTHER);
    let audience = format!("plugin:{HELLO}");

    // the test's token belongs to `dev`, role admin (`*`)
    let api = seen(
        &core,
        &format!("/_p/{HELLO}/api/headers"),
        Some(&core.token),
        &[],
    )
    .await;
    let token = jwt(&api);
    assert!(!token.contains(&core.token));
    let claims = verify(&token, &secret, &audience).expect("jsonwebtoken accepts it");
    assert_eq!(
        verify_in_python(&token, &secret, &audience).expect("PyJWT accepts it"),
        claims
    );
    assert_eq!(claims["iss"], "powerx-auth");
    assert_eq!(claims["sub"], "dev");
    assert_eq!(claims["aud"], json!([audience]));
    let iat = claims["iat"].as_u64().unwrap();
    assert!(iat.abs_diff(now()) <= 5, "iat {iat} is now");
    assert_eq!(claims["nbf"].as_u64(), Some(iat));
    assert_eq!(claims["exp"].as_u64(), Some(iat + 60));
    assert_eq!(claims["uid"], "dev");
    assert_eq!(claims["mid"], "dev");
    assert!(claims.get("uid_n").is_none() && claims.get("mid_n").is_none());
    let tid = claims["tid"].as_str().unwrap();
    assert_eq!(tid, px_core::gateway::TENANT_UUID);
    assert_eq!(tid.len(), 36, "a UUID");
    assert_eq!(claims["tid_n"], 1);
    assert_eq!(claims["is_root"], true);
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(claims["scope"], "access");
    assert_eq!(claims["permission_codes"], json!(["*"]));
    assert_eq!(claims["plugin_id"], HELLO);
    assert_eq!(api["x-px-user"], "dev");

    // another plugin's secret or audience does not accept it
    let forged = verify(&token, &other_secret, &audience).unwrap_err();
    assert_eq!(
        forged.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidSignature
    );
    let python = verify_in_python(&token, &other_secret, &audience).unwrap_err();
    assert!(python.contains("InvalidSignatureError"), "{python}");
    let elsewhere = verify(&token, &secret, &format!("plugin:{OTHER}")).unwrap_err();
    assert_eq!(
        elsewhere.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidAudience
    );
    // and that plugin's own tokens are signed with its own secret
    let theirs = jwt(&seen(
        &core,
        &format!("/_p/{OTHER}/api/headers"),
        Some(&core.token),
        &[],
    )
    .await);
    let their_claims = verify(&theirs, &other_secret, &format!("plugin:{OTHER}")).unwrap();
    assert_eq!(their_claims["plugin_id"], OTHER);
    assert!(verify(&theirs, &secret, &format!("plugin:{OTHER}")).is_err());

    // the admin process gets one too
    let admin = seen(
        &core,
        &format!("/_p/{HELLO}/admin/headers"),
        Some(&core.token),
        &[],
    )
    .await;
    let admin_claims = verify(&jwt(&admin), &secret, &audience).unwrap();
    assert_eq!(admin_claims["sub"], "dev");
    verify_in_python(&jwt(&admin), &secret, &audience).unwrap();
    core.stop().await;
}

#[tokio::test]
async fn sessions_and_other_roles_get_their_own_claims() {
    let core = Core::start().await;
    install(&core, HELLO).await;
    let secret = secret_of(&core, HELLO);
    let audience = format!("plugin:{HELLO}");
    let config = px_core::Config::new(core.data.path());
    let store = px_core::Store::connect(&config.database_url())
        .await
        .unwrap();
    store.add_user("vera", "viewer", None).await.unwrap();
    let viewer = store.create_user_token("vera", "jwt").await.unwrap();
    let (session, _csrf) = store.create_session("dev").await.unwrap();

    let claims = verify(
        &jwt(&seen(
            &core,
            &format!("/_p/{HELLO}/api/headers"),
            Some(&viewer),
            &[],
        )
        .await),
        &secret,
        &audience,
    )
    .unwrap();
    assert_eq!(claims["sub"], "vera");
    assert_eq!(claims["roles"], json!(["viewer"]));
    assert_eq!(claims["is_root"], false);
    let codes = claims["permission_codes"].as_array().unwrap();
    assert!(codes.contains(&json!("plugin:read")), "{codes:?}");
    assert!(!codes.contains(&json!("*")));

    // an Admin session: a JWT, and the cookie stays with Core
    let cookie = format!("px_session={session}");
    let by_session = seen(
        &core,
        &format!("/_p/{HELLO}/api/headers"),
        None,
        &[("cookie", cookie.as_str())],
    )
    .await;
    assert!(by_session.get("cookie").is_none());
    let claims = verify(&jwt(&by_session), &secret, &audience).unwrap();
    assert_eq!(claims["sub"], "dev");
    assert_eq!(claims["is_root"], true);
    core.stop().await;
}

#[tokio::test]
async fn anonymous_and_spoofed_identities_do_not_reach_the_plugin() {
    let core = Core::start().await;
    install(&core, HELLO).await;
    let spoofs = [
        ("X_PX_User", "root"),
        ("x_px_permissions", "*"),
        ("X-PX-User", "root"),
        ("X-Px_Permissions", "*"),
    ];
    let path = format!("/_p/{HELLO}/api/headers");
    let anonymous = seen(&core, &path, None, &spoofs).await;
    let signed_in = seen(&core, &path, Some(&core.token), &spoofs).await;
    for (who, headers) in [("anonymous", &anonymous), ("signed in", &signed_in)] {
        for name in headers.as_object().unwrap().keys() {
            let read_as = name.replace('_', "-");
            if read_as == "x-px-user" || read_as == "x-px-permissions" {
                assert_eq!(
                    &read_as, name,
                    "{who}: the caller's {name} reached the plugin"
                );
            }
        }
    }
    assert!(
        anonymous.get("authorization").is_none(),
        "no JWT without credentials"
    );
    assert!(anonymous.get("x-px-user").is_none());
    assert!(anonymous.get("x-px-permissions").is_none());
    assert_eq!(signed_in["x-px-user"], "dev", "Core's, not the caller's");
    assert_eq!(signed_in["x-px-permissions"], "*");
    let secret = secret_of(&core, HELLO);
    verify(&jwt(&signed_in), &secret, &format!("plugin:{HELLO}")).unwrap();

    // a bad token is no caller: no identity, no JWT
    let bad = seen(&core, &path, Some("pxt_not-a-token"), &[]).await;
    assert!(bad.get("authorization").is_none() && bad.get("x-px-user").is_none());
    core.stop().await;
}
