//! SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677) with
//! `tls-exporter` channel binding (RFC 9266), server side.
//!
//! Hand-written over hmac/sha2/pbkdf2: the SCRAM crates on crates.io are
//! client-oriented or lack channel binding.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// What the server stores: never the password (RFC 5802 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramSecret {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl ScramSecret {
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> Result<Self, ScramError> {
        let password = stringprep::saslprep(password).map_err(|_| ScramError::Prep)?;
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        Ok(ScramSecret {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        })
    }

    /// RFC 5803 form: `SCRAM-SHA-256$iter:salt$StoredKey:ServerKey`.
    pub fn encode(&self) -> String {
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            b64().encode(&self.salt),
            b64().encode(self.stored_key),
            b64().encode(self.server_key)
        )
    }

    pub fn decode(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iter, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        Some(ScramSecret {
            iterations: iter.parse().ok()?,
            salt: b64().decode(salt).ok()?,
            stored_key: b64().decode(stored).ok()?.try_into().ok()?,
            server_key: b64().decode(server).ok()?.try_into().ok()?,
        })
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message")]
    Syntax,
    #[error("string preparation failed")]
    Prep,
    #[error("channel binding mismatch")]
    ChannelBinding,
    #[error("nonce mismatch")]
    Nonce,
    #[error("invalid proof")]
    Proof,
}

/// The parsed client-first message.
#[derive(Debug)]
pub struct ClientFirst {
    pub user: String,
    gs2_header: String,
    bare: String,
    nonce: String,
    /// `p=tls-exporter` was requested.
    binds: bool,
}

/// Unescapes a SCRAM `saslname` (`=2C` → `,`, `=3D` → `=`).
fn sasl_name(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Syntax),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses client-first. `plus` is whether the mechanism is the -PLUS one;
/// `plus_offered` whether the server advertised -PLUS on this connection
/// (a client saying "y" then means someone stripped it: RFC 5802 §6).
pub fn parse_client_first(
    msg: &[u8],
    plus: bool,
    plus_offered: bool,
) -> Result<ClientFirst, ScramError> {
    let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Syntax)?;
    let (flag, rest) = msg.split_once(',').ok_or(ScramError::Syntax)?;
    let (authzid_raw, bare) = rest.split_once(',').ok_or(ScramError::Syntax)?;
    let gs2_header = format!("{flag},{authzid_raw},");
    let binds = match flag {
        "n" => false,
        "y" if plus_offered => return Err(ScramError::ChannelBinding),
        "y" => false,
        "p=tls-exporter" => true,
        _ => return Err(ScramError::ChannelBinding),
    };
    if binds != plus {
        return Err(ScramError::ChannelBinding);
    }
    let authzid = match authzid_raw {
        "" => None,
        a => Some(sasl_name(a.strip_prefix("a=").ok_or(ScramError::Syntax)?)?),
    };
    let mut fields = bare.split(',');
    let user = sasl_name(
        fields
            .next()
            .and_then(|f| f.strip_prefix("n="))
            .ok_or(ScramError::Syntax)?,
    )?;
    let user = stringprep::saslprep(&user)
        .map_err(|_| ScramError::Prep)?
        .into_owned();
    let nonce = fields
        .next()
        .and_then(|f| f.strip_prefix("r="))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b','))
        .ok_or(ScramError::Syntax)?;
    // Acting as someone else is not supported.
    if authzid.is_some_and(|a| a != user) {
        return Err(ScramError::Syntax);
    }
    Ok(ClientFirst {
        gs2_header,
        bare: bare.to_string(),
        nonce: nonce.to_string(),
        user,
        binds,
    })
}

/// Server state between server-first and client-final.
pub struct ScramServer {
    secret: ScramSecret,
    first: ClientFirst,
    nonce: String,
    server_first: String,
}

impl ScramServer {
    /// Builds server-first with `server_nonce` appended to the client's.
    pub fn new(first: ClientFirst, secret: ScramSecret, server_nonce: &str) -> (Self, String) {
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            b64().encode(&secret.salt),
            secret.iterations
        );
        (
            ScramServer {
                secret,
                first,
                nonce,
                server_first: server_first.clone(),
            },
            server_first,
        )
    }

    /// Checks client-final; returns server-final (`v=...`) on success.
    /// `exporter` is the connection's channel-binding value, required
    /// when the client asked for binding.
    pub fn finish(&self, msg: &[u8], exporter: Option<&[u8]>) -> Result<String, ScramError> {
        let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Syntax)?;
        let (without_proof, proof) = msg.rsplit_once(",p=").ok_or(ScramError::Syntax)?;
        let mut fields = without_proof.split(',');
        let cbind = fields
            .next()
            .and_then(|f| f.strip_prefix("c="))
            .ok_or(ScramError::Syntax)?;
        let nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .ok_or(ScramError::Syntax)?;
        let mut expected = self.first.gs2_header.as_bytes().to_vec();
        if self.first.binds {
            expected.extend_from_slice(exporter.ok_or(ScramError::ChannelBinding)?);
        }
        let cbind = b64().decode(cbind).map_err(|_| ScramError::Syntax)?;
        if !bool::from(cbind.ct_eq(&expected)) {
            return Err(ScramError::ChannelBinding);
        }
        if nonce != self.nonce {
            return Err(ScramError::Nonce);
        }
        let proof = b64().decode(proof).map_err(|_| ScramError::Syntax)?;
        if proof.len() != 32 {
            return Err(ScramError::Proof);
        }
        let auth_message = format!("{},{},{without_proof}", self.first.bare, self.server_first);
        let signature = hmac(&self.secret.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        let stored: [u8; 32] = Sha256::digest(&client_key).into();
        if !bool::from(stored.ct_eq(&self.secret.stored_key)) {
            return Err(ScramError::Proof);
        }
        let server_signature = hmac(&self.secret.server_key, auth_message.as_bytes());
        Ok(format!("v={}", b64().encode(server_signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3.
    #[test]
    fn rfc7677_vector() {
        let salt = b64().decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let secret = ScramSecret::derive("pencil", &salt, 4096).unwrap();
        assert_eq!(ScramSecret::decode(&secret.encode()).unwrap(), secret);
        let first = parse_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", false, false).unwrap();
        assert_eq!(first.user, "user");
        let (server, server_first) =
            ScramServer::new(first, secret, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let final_msg = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            server.finish(final_msg, None).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        // A flipped bit in the proof fails.
        let bad = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVA=";
        assert_eq!(server.finish(bad, None), Err(ScramError::Proof));
    }

    #[test]
    fn channel_binding_rules() {
        // -PLUS needs p=tls-exporter, plain SCRAM must not bind.
        assert!(parse_client_first(b"n,,n=u,r=x", true, true).is_err());
        assert!(parse_client_first(b"p=tls-exporter,,n=u,r=x", false, true).is_err());
        assert!(parse_client_first(b"p=tls-unique,,n=u,r=x", true, true).is_err());
        // "y" when the server offered -PLUS signals a downgrade.
        assert_eq!(
            parse_client_first(b"y,,n=u,r=x", false, true).unwrap_err(),
            ScramError::ChannelBinding
        );
        assert!(parse_client_first(b"y,,n=u,r=x", false, false).is_ok());
        assert_eq!(
            parse_client_first(b"n,,n=a=2Cb=3Dc,r=x", false, false)
                .unwrap()
                .user,
            "a,b=c"
        );
        assert!(parse_client_first(b"n,,n=a=2Xb,r=x", false, false).is_err());
        assert!(parse_client_first(b"n,a=other,n=u,r=x", false, false).is_err());
    }

    #[test]
    fn plus_checks_exporter() {
        let secret = ScramSecret::derive("pw", b"saltsalt", 16).unwrap();
        let first = parse_client_first(b"p=tls-exporter,,n=u,r=abc", true, true).unwrap();
        let (server, _) = ScramServer::new(first, secret, "def");
        let cbind = b64().encode(b"p=tls-exporter,,WRONG");
        let msg = format!("c={cbind},r=abcdef,p={}", b64().encode([0u8; 32]));
        assert_eq!(
            server.finish(msg.as_bytes(), Some(b"RIGHT")),
            Err(ScramError::ChannelBinding)
        );
    }
}
