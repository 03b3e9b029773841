//! Who is calling and what they may touch: roles, scopes and the legal
//! entities a token reaches. Pure data; the JWT layer builds it and every
//! service call receives it.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Accountant,
    Partner,
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ADMIN" => Ok(Role::Admin),
            "ACCOUNTANT" => Ok(Role::Accountant),
            "PARTNER" => Ok(Role::Partner),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Admin => "ADMIN",
            Role::Accountant => "ACCOUNTANT",
            Role::Partner => "PARTNER",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    BillingRead,
    BillingRun,
    ArRead,
    ContractsWrite,
    ConfigWrite,
    EventsRead,
    /// Manage the caller's own webhook endpoints.
    WebhooksWrite,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::BillingRead,
        Scope::BillingRun,
        Scope::ArRead,
        Scope::ContractsWrite,
        Scope::ConfigWrite,
        Scope::EventsRead,
        Scope::WebhooksWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::BillingRead => "billing:read",
            Scope::BillingRun => "billing:run",
            Scope::ArRead => "ar:read",
            Scope::ContractsWrite => "contracts:write",
            Scope::ConfigWrite => "config:write",
            Scope::EventsRead => "events:read",
            Scope::WebhooksWrite => "webhooks:write",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown scope {s:?}"))
    }
}

/// The legal entities a principal reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntityAccess {
    All,
    Only(Vec<i64>),
}

#[derive(Clone, Debug)]
pub struct Principal {
    pub subject: String,
    pub role: Role,
    pub scopes: Vec<Scope>,
    pub entities: EntityAccess,
    /// When the token expires (Unix seconds); long-lived streams end then.
    pub expires_at: Option<i64>,
}

impl Principal {
    /// The actor used for work the server starts on its own.
    pub fn system(actor: impl Into<String>) -> Self {
        Principal {
            subject: actor.into(),
            role: Role::Admin,
            scopes: Scope::ALL.to_vec(),
            entities: EntityAccess::All,
            expires_at: None,
        }
    }

    /// ADMIN implies every scope.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.role == Role::Admin || self.scopes.contains(&scope)
    }

    /// `None` means every legal entity; `Some(ids)` is the list that every
    /// query must filter on (in SQL, never after loading).
    pub fn entity_filter(&self) -> Option<&[i64]> {
        if self.role == Role::Admin {
            return None;
        }
        match &self.entities {
            EntityAccess::All => None,
            EntityAccess::Only(ids) => Some(ids),
        }
    }

    pub fn can_see(&self, legal_entity_id: i64) -> bool {
        self.entity_filter()
            .is_none_or(|ids| ids.contains(&legal_entity_id))
    }

    /// For rows whose legal entity is optional (audit events, scheduled
    /// jobs): one without an entity is visible only to a principal that no
    /// entity list restricts.
    pub fn can_see_row(&self, legal_entity_id: Option<i64>) -> bool {
        match legal_entity_id {
            Some(id) => self.can_see(id),
            None => self.entity_filter().is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partner(ids: Vec<i64>) -> Principal {
        Principal {
            subject: "p".into(),
            role: Role::Partner,
            scopes: vec![Scope::BillingRead],
            entities: EntityAccess::Only(ids),
            expires_at: None,
        }
    }

    #[test]
    fn admin_implies_every_scope_and_entity() {
        let admin = Principal {
            subject: "a".into(),
            role: Role::Admin,
            scopes: vec![],
            entities: EntityAccess::Only(vec![]),
            expires_at: None,
        };
        assert!(Scope::ALL.iter().all(|s| admin.has_scope(*s)));
        assert!(admin.can_see(42));
        assert_eq!(admin.entity_filter(), None);
    }

    #[test]
    fn partner_reaches_only_its_scopes_and_entities() {
        let p = partner(vec![1]);
        assert!(p.has_scope(Scope::BillingRead));
        assert!(!p.has_scope(Scope::BillingRun));
        assert!(p.can_see(1));
        assert!(!p.can_see(2));
    }

    #[test]
    fn rows_without_an_entity_are_only_for_principals_no_entity_list_restricts() {
        let p = partner(vec![1]);
        assert!(p.can_see_row(Some(1)));
        assert!(!p.can_see_row(Some(2)));
        assert!(!p.can_see_row(None));
        let mut everywhere = partner(vec![]);
        everywhere.entities = EntityAccess::All;
        assert!(everywhere.can_see_row(None) && everywhere.can_see_row(Some(2)));
    }

    #[test]
    fn scopes_and_roles_parse_from_claim_strings() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
        assert!("billing:write".parse::<Scope>().is_err());
        assert_eq!("PARTNER".parse::<Role>(), Ok(Role::Partner));
        assert!("admin".parse::<Role>().is_err());
    }
}
