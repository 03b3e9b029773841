//! Validation of setup input: names, codes, countries, timezones. Each
//! function returns the cleaned value or a `DomainError` naming the field.

use super::error::DomainError;

pub const MAX_NAME_LEN: usize = 200;

/// Trims and refuses empty or oversized names.
pub fn name(field: &str, value: &str) -> Result<String, DomainError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(DomainError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(DomainError::new(
            field,
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(DomainError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// Legal entity codes prefix invoice numbers, so they stay short and plain.
pub fn entity_code(value: &str) -> Result<String, DomainError> {
    let code = value.trim();
    let ok = (1..=16).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(code.to_string())
    } else {
        Err(DomainError::new(
            "code",
            "must be 1-16 characters of A-Z, 0-9 or _",
        ))
    }
}

pub fn country(value: &str) -> Result<String, DomainError> {
    if value.len() == 2 && value.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(value.to_string())
    } else {
        Err(DomainError::new(
            "country",
            "must be an ISO 3166-1 alpha-2 code such as \"EE\"",
        ))
    }
}

pub fn timezone(value: &str) -> Result<chrono_tz::Tz, DomainError> {
    value
        .parse::<chrono_tz::Tz>()
        .map_err(|_| DomainError::new("timezone", format!("unknown IANA timezone {value:?}")))
}

pub fn email(value: &str) -> Result<String, DomainError> {
    let v = value.trim();
    let valid = v.len() <= 254
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(v.to_string())
    } else {
        Err(DomainError::new("email", "is not a valid e-mail address"))
    }
}

pub fn payment_terms(days: i32) -> Result<i32, DomainError> {
    if (0..=3650).contains(&days) {
        Ok(days)
    } else {
        Err(DomainError::new(
            "paymentTermsDays",
            "must be between 0 and 3650",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_must_not_be_empty() {
        assert_eq!(name("name", "  Bolt "), Ok("Bolt".to_string()));
        assert_eq!(name("name", "   ").unwrap_err().field, "name");
    }

    #[test]
    fn timezones_must_be_iana_names() {
        assert!(timezone("Europe/Tallinn").is_ok());
        assert!(timezone("Mars/Olympus").is_err());
        assert!(timezone("").is_err());
    }

    #[test]
    fn codes_countries_and_emails_are_checked() {
        assert!(entity_code("EE01").is_ok());
        assert!(entity_code("ee").is_err());
        assert!(entity_code("A-B").is_err());
        assert!(country("EE").is_ok());
        assert!(country("EST").is_err());
        assert!(email("billing@bolt.eu").is_ok());
        assert!(email("nobody").is_err());
        assert!(payment_terms(-1).is_err());
    }
}
