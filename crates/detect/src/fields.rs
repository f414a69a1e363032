//! What CloudTrail field values mean when more than one rule reads them the same way: error
//! codes that deny.

/// True for error codes that mean "not allowed".
pub(crate) fn is_denied(code: &str) -> bool {
    code.contains("AccessDenied")
        || code.contains("Unauthorized")
        || code.contains("NotAuthorized")
        || code == "Forbidden"
        || code.contains("AuthorizationError")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_are_told_from_other_errors() {
        for code in ["AccessDenied", "Client.UnauthorizedOperation", "Forbidden", "AuthorizationError"] {
            assert!(is_denied(code), "{code}");
        }
        for code in ["NoSuchEntity", "ThrottlingException", "ForbiddenException"] {
            assert!(!is_denied(code), "{code}");
        }
    }
}
