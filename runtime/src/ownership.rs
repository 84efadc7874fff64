//! Who a session belongs to, and so who may read, continue or delete it.
//!
//! - An agent with `auth`: a session belongs to the API key that created it. Sessions are scoped
//!   by the key's digest (its [`crate::auth::key_id`]): the same `session_id` sent with another
//!   key names another, separate session, so one key holder can never read, write or delete
//!   another's. Client-chosen ids are safe here, and allowed.
//! - A public agent (no `auth`): the Worker issues each session's id, 128 random bits
//!   ([`mint`]), on the first message sent without a `session_id`; knowing the id is what lets a
//!   client continue, read or delete the session. A `session_id` the Worker did not issue is
//!   404. The id comes back in the [`SESSION_HEADER`] response header and in the `done` event.
//! - A public agent with `sessions: { client_ids: true }`: clients name sessions themselves, as
//!   before; anyone who knows or guesses a name can read and write that session.
//!
//! The session object stores its owner when it is created and answers 404 to a request of any
//! other owner, or to a request for a session that does not exist ([`admit`]).

use crate::api::ApiError;
use crate::auth::{self, Digest32};
use crate::policy::Policy;

/// The response header that carries a turn's session id.
pub const SESSION_HEADER: &str = "x-agentc-session";

/// The owner a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// An API key, by its key id.
    Key(String),
    /// Whoever holds a Worker-issued session id.
    Issued,
    /// Anyone: client-chosen ids (`sessions: { client_ids: true }`).
    Public,
}

impl Owner {
    /// The owner of a request to an agent with `policy`, given the digest of the key it
    /// presented (which `auth` has already checked).
    pub fn of(policy: &Policy, key: Option<&Digest32>) -> Owner {
        match (policy.auth, key) {
            (Some(_), Some(digest)) => Owner::Key(auth::key_id(digest)),
            _ if policy.sessions.client_ids => Owner::Public,
            _ => Owner::Issued,
        }
    }

    /// The owner as stored in the session object and passed to it.
    pub fn label(&self) -> String {
        match self {
            Owner::Key(id) => format!("key:{id}"),
            Owner::Issued => "issued".to_owned(),
            Owner::Public => "public".to_owned(),
        }
    }

    /// Whether a request that names a session may create it when it does not exist yet.
    pub fn may_name_new_sessions(&self) -> bool {
        !matches!(self, Owner::Issued)
    }
}

/// The session a request talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub session_id: String,
    /// Whether the session object may create the session if it does not exist.
    pub create: bool,
}

/// The session of a message: the one it names, or a new one with an id from [`mint`].
pub fn resolve(
    owner: &Owner,
    given: Option<String>,
    random: impl FnOnce() -> [u8; 16],
) -> Resolved {
    match given {
        Some(session_id) => Resolved {
            create: owner.may_name_new_sessions(),
            session_id,
        },
        None => Resolved {
            session_id: mint(random()),
            create: true,
        },
    }
}

/// A Worker-issued session id: `s-` and 128 random bits in hex (a valid session id).
pub fn mint(random: [u8; 16]) -> String {
    format!("s-{}", auth::hex(&random))
}

/// The name of a session's Durable Object. Agent names and session ids contain no `/`, so a
/// key-scoped name (three parts) never equals a public one (two parts).
pub fn object_name(agent: &str, owner: &Owner, session_id: &str) -> String {
    match owner {
        Owner::Key(id) => format!("{agent}/key:{id}/{session_id}"),
        Owner::Issued | Owner::Public => format!("{agent}/{session_id}"),
    }
}

/// The session as a rate limit `per: session` counts it: scoped by key like its object, so two
/// keys' sessions of the same id are counted apart.
pub fn scoped_id(owner: &Owner, session_id: &str) -> String {
    match owner {
        Owner::Key(id) => format!("key:{id}/{session_id}"),
        Owner::Issued | Owner::Public => session_id.to_owned(),
    }
}

/// What a session object does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The session exists and belongs to the request's owner.
    Allowed,
    /// The session does not exist and the request creates it: store the owner.
    Create,
    /// 404: the session does not exist, or belongs to someone else.
    NotFound,
}

/// Decides a request for a session whose stored owner is `stored`. A public session stored before
/// owners were recorded (messages, no owner) is adopted.
pub fn admit(stored: Option<&str>, owner: &str, create: bool, has_messages: bool) -> Admission {
    match stored {
        Some(stored) if stored == owner => Admission::Allowed,
        Some(_) => Admission::NotFound,
        None if create || (owner == "public" && has_messages) => Admission::Create,
        None => Admission::NotFound,
    }
}

/// The 404 for a session that does not exist or is someone else's: the two are not told apart.
pub fn not_found(session_id: &str) -> ApiError {
    ApiError::new(
        404,
        "session_not_found",
        format!("there is no session `{session_id}`"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{AuthPolicy, SessionPolicy};

    const AUTH: Policy = Policy {
        auth: Some(AuthPolicy {
            api_keys_secret: "K",
        }),
        ..Policy::NONE
    };
    const CLIENT_IDS: Policy = Policy {
        sessions: SessionPolicy { client_ids: true },
        ..Policy::NONE
    };

    #[test]
    fn owners_and_object_names() {
        let (alice, bob) = (auth::digest("alice"), auth::digest("bob"));
        let a = Owner::of(&AUTH, Some(&alice));
        let b = Owner::of(&AUTH, Some(&bob));
        assert_ne!(
            object_name("x", &a, "s1"),
            object_name("x", &b, "s1"),
            "two keys never share a session"
        );
        assert_eq!(
            object_name("x", &a, "s1"),
            format!("x/key:{}/s1", auth::key_id(&alice))
        );
        assert_eq!(Owner::of(&Policy::NONE, None), Owner::Issued);
        assert_eq!(Owner::of(&CLIENT_IDS, None), Owner::Public);
        assert_eq!(object_name("x", &Owner::Issued, "s1"), "x/s1");
    }

    #[test]
    fn issued_ids_are_minted_and_required() {
        let minted = resolve(&Owner::Issued, None, || [0xab; 16]);
        assert_eq!(minted.session_id, format!("s-{}", "ab".repeat(16)));
        assert!(minted.create);
        crate::api::validate_session_id(&minted.session_id).unwrap();
        // A named session of a public agent must already exist.
        let named = resolve(&Owner::Issued, Some("user-42".into()), || unreachable!());
        assert!(!named.create);
        // Keys and client ids may name new sessions.
        assert!(resolve(&Owner::Public, Some("t".into()), || unreachable!()).create);
        assert!(resolve(&Owner::Key("k".into()), Some("t".into()), || unreachable!()).create);
    }

    #[test]
    fn admission() {
        use Admission::*;
        assert_eq!(admit(Some("issued"), "issued", false, true), Allowed);
        assert_eq!(admit(Some("key:a"), "key:b", true, true), NotFound);
        assert_eq!(admit(Some("public"), "issued", false, true), NotFound);
        assert_eq!(admit(None, "issued", false, false), NotFound);
        assert_eq!(admit(None, "issued", false, true), NotFound);
        assert_eq!(admit(None, "issued", true, false), Create);
        assert_eq!(admit(None, "public", false, true), Create);
        assert_eq!(admit(None, "public", false, false), NotFound);
    }
}
