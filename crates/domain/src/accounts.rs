//! Accounts: email addresses, the password policy, password hashing and secret tokens.
//!
//! Passwords are hashed with argon2id at OWASP's parameters (19 MiB, 2 iterations, 1 lane);
//! hashes made with weaker parameters are reported as needing an upgrade at the next login.
//! Tokens (sessions, password resets, email verification, API keys) are 256 random bits from
//! the OS CSPRNG; only their SHA-256 is stored, so a database leak reveals no usable secret.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longer inputs are refused so nobody can make the server hash megabytes per request.
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MAX_NAME_CHARS: usize = 200;

/// OWASP Password Storage Cheat Sheet, argon2id: m = 19 MiB, t = 2, p = 1.
pub const ARGON2_M_KIB: u32 = 19 * 1024;
pub const ARGON2_T: u32 = 2;
pub const ARGON2_P: u32 = 1;

/// A normalised (trimmed, lower-cased) email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let s = raw.trim().to_lowercase();
        let valid = s.len() <= 254
            && !s.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
            })
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && local.len() <= 64
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains("..")
                }
                None => false,
            };
        if valid {
            Ok(Email(s))
        } else {
            Err("must be an email address like name@example.com")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key per-customer limits count an address under: lower case, without a `+tag`, and for
/// Gmail without dots (Gmail delivers `a.b+x@gmail.com` to `ab@gmail.com`), so one mailbox is
/// one customer however its address is typed.
pub fn customer_key(email: &str) -> String {
    let email = email.trim().to_lowercase();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return email;
    };
    let local = local.split_once('+').map_or(local, |(base, _)| base);
    let domain = if domain == "googlemail.com" {
        "gmail.com"
    } else {
        domain
    };
    if domain == "gmail.com" {
        format!("{}@{domain}", local.replace('.', ""))
    } else {
        format!("{local}@{domain}")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("../data/common-passwords.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect()
    })
}

/// Why a new password is refused, or `Ok`.
pub fn check_password_policy(password: &str, email: Option<&str>) -> Result<(), &'static str> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err("must be at least 8 characters");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err("must be at most 1024 bytes");
    }
    let lower = password.to_lowercase();
    if common_passwords().contains(lower.as_str()) {
        return Err("is one of the most common passwords; choose another");
    }
    let first = lower.chars().next();
    if lower.chars().all(|c| Some(c) == first) {
        return Err("must not be one character repeated");
    }
    if email
        .is_some_and(|e| lower == e.to_lowercase() || e.split('@').next() == Some(lower.as_str()))
    {
        return Err("must not be your email address");
    }
    Ok(())
}

pub fn validate_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        Err("must not be empty")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Err("must be at most 200 characters")
    } else if crate::text::has_hidden_controls(name) {
        Err("must not contain control or text-direction characters")
    } else {
        Ok(name.to_owned())
    }
}

fn hasher() -> Argon2<'static> {
    let params =
        Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (CPU- and memory-heavy: run it off the async runtime).
pub fn hash_password(password: &str) -> String {
    hasher()
        .hash_password(password.as_bytes())
        .expect("argon2 accepts any password up to the policy's length")
        .to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    Wrong,
    Correct,
    /// Correct, but hashed with weaker parameters than today's: store a new hash.
    CorrectNeedsRehash,
}

/// Checks a password against a stored PHC hash string.
pub fn verify_password(password: &str, stored: &str) -> PasswordCheck {
    let Ok(hash) = PasswordHash::new(stored) else {
        return PasswordCheck::Wrong;
    };
    // Verification uses the parameters recorded in the hash itself.
    let params = Params::try_from(&hash).ok();
    if hasher()
        .verify_password(password.as_bytes(), &hash)
        .is_err()
    {
        return PasswordCheck::Wrong;
    }
    let current = params.is_some_and(|p| {
        hash.algorithm.as_str() == "argon2id"
            && p.m_cost() >= ARGON2_M_KIB
            && p.t_cost() >= ARGON2_T
            && p.p_cost() == ARGON2_P
    });
    if current {
        PasswordCheck::Correct
    } else {
        PasswordCheck::CorrectNeedsRehash
    }
}

/// A hash to verify against when the account does not exist, so that an unknown email takes
/// as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("souk-dummy-password-for-timing"))
}

/// A new secret token: `prefix` + 256 random bits (base64url), and the SHA-256 to store.
/// A random password people can type: five groups of five lowercase letters and digits
/// (about 129 bits), without the look-alikes `0 o 1 l i`.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 25];
    getrandom::fill(&mut bytes).expect("the OS random number generator is available");
    let chars: Vec<char> = bytes
        .iter()
        // 256 is not a multiple of 31: the first 248 values are uniform; the rest are folded
        // in, a bias of under 1 bit over the whole password.
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    chars
        .chunks(5)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

pub fn new_token(prefix: &str) -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random number generator is available");
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The CSRF token that goes with a session token: derived, so nothing extra is stored, and
/// useless without the (HttpOnly) session cookie it is bound to.
pub fn csrf_token(session_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(
        format!("souk-csrf:{session_token}").as_bytes(),
    ))
}

/// Constant-time equality for secrets.
pub fn secure_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn customer_keys_fold_case_tags_and_gmail_dots() {
        use super::customer_key;
        assert_eq!(customer_key("Shopper+2@Example.com"), "shopper@example.com");
        assert_eq!(customer_key("SHOPPER+3@example.COM"), "shopper@example.com");
        assert_eq!(customer_key("a.b+x@googlemail.com"), "ab@gmail.com");
        assert_eq!(customer_key("a.b@example.com"), "a.b@example.com");
    }

    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.com",
            "a@b",
            "a b@c.com",
            "a@b..com",
            "a@.com",
            "a@b.com.",
            "<a@b.com>",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_policy() {
        assert!(check_password_policy("correct horse battery", None).is_ok());
        assert!(check_password_policy("short", None).is_err());
        assert!(check_password_policy("password1", None).is_err(), "common");
        assert!(
            check_password_policy("Iloveyou1", None).is_err(),
            "common, any case"
        );
        assert!(check_password_policy("aaaaaaaaaa", None).is_err());
        assert!(check_password_policy("ada@example.com", Some("ada@example.com")).is_err());
        assert!(
            check_password_policy(&"x1".repeat(600), None).is_err(),
            "too long"
        );
    }

    #[test]
    fn password_policy_boundaries() {
        // Exactly the minimum and the maximum are accepted; one less / one more is not.
        assert!(
            check_password_policy("tZ8#qLw2", None).is_ok(),
            "8 characters"
        );
        assert!(
            check_password_policy("tZ8#qLw", None).is_err(),
            "7 characters"
        );
        assert!(
            check_password_policy("éàüöçñßø", None).is_ok(),
            "8 characters, 16 bytes"
        );
        let max = format!("{}{}", "ab".repeat(511), "cd");
        assert_eq!(max.len(), MAX_PASSWORD_BYTES);
        assert!(check_password_policy(&max, None).is_ok(), "1024 bytes");
        assert!(
            check_password_policy(&format!("{max}e"), None).is_err(),
            "1025 bytes"
        );
        // The email's local part alone is refused too; another address's is fine.
        let email = Some("adalovelace@example.com");
        assert!(check_password_policy("AdaLovelace", email).is_err());
        assert!(check_password_policy("adalovelace", Some("grace@example.com")).is_ok());
        // The list's comment lines are not passwords.
        assert!(
            !common_passwords()
                .iter()
                .any(|p| p.starts_with('#') || p.is_empty())
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            validate_name("  Ada Lovelace "),
            Ok("Ada Lovelace".to_owned())
        );
        assert!(validate_name("   ").is_err());
        assert_eq!(validate_name(&"n".repeat(200)).map(|n| n.len()), Ok(200));
        assert!(validate_name(&"n".repeat(201)).is_err());
        assert!(validate_name("Ada\u{202E}nimda").is_err());
    }

    #[test]
    fn an_email_displays_as_its_normalised_address() {
        let email = Email::parse(" Ada@Example.COM ").unwrap();
        assert_eq!(email.to_string(), email.as_str());
        assert_eq!(format!("<{email}>"), format!("<{}>", email.as_str()));
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hash = hash_password("correct horse battery");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_eq!(
            verify_password("correct horse battery", &hash),
            PasswordCheck::Correct
        );
        assert_eq!(
            verify_password("wrong horse battery", &hash),
            PasswordCheck::Wrong
        );
        assert_eq!(verify_password("x", "not a hash"), PasswordCheck::Wrong);
        assert_ne!(hash, hash_password("correct horse battery"), "salted");
    }

    #[test]
    fn weaker_hashes_ask_for_an_upgrade() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery")
        .unwrap()
        .to_string();
        assert_eq!(
            verify_password("correct horse battery", &weak),
            PasswordCheck::CorrectNeedsRehash
        );
        // Each parameter alone counts: only the memory below today's, or another variant.
        for (algorithm, m) in [
            (Algorithm::Argon2id, 8 * 1024),
            (Algorithm::Argon2i, ARGON2_M_KIB),
        ] {
            let hash = Argon2::new(
                algorithm,
                Version::V0x13,
                Params::new(m, ARGON2_T, ARGON2_P, None).unwrap(),
            )
            .hash_password(b"correct horse battery")
            .unwrap()
            .to_string();
            assert_eq!(
                verify_password("correct horse battery", &hash),
                PasswordCheck::CorrectNeedsRehash,
                "{hash}"
            );
        }
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        // An unknown email is checked against it: it must be a current argon2id hash, or the
        // answer would come faster than for a wrong password (account enumeration).
        assert!(
            dummy_hash().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            dummy_hash()
        );
        assert_eq!(
            verify_password("souk-dummy-password-for-timing", dummy_hash()),
            PasswordCheck::Correct
        );
        assert_eq!(
            verify_password("anything else", dummy_hash()),
            PasswordCheck::Wrong
        );
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, ha) = new_token("souk_s_");
        let (b, _) = new_token("souk_s_");
        assert_ne!(a, b);
        assert!(a.starts_with("souk_s_") && a.len() == 7 + 43);
        assert_eq!(ha, token_hash(&a));
        assert_eq!(ha.len(), 32);
        assert!(secure_eq(&ha, &token_hash(&a)));
        assert!(!secure_eq(&ha, &token_hash(&b)));
        assert_ne!(csrf_token(&a), csrf_token(&b));
    }
}
