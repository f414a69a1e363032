//! MITRE ATT&CK (Enterprise, cloud matrix) tactic ids and names used by rules.

/// An ATT&CK tactic: id and display name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tactic {
    /// Tactic id, e.g. `TA0007`.
    pub id: &'static str,
    /// Tactic name, e.g. `Discovery`.
    pub name: &'static str,
}

/// TA0001
pub const INITIAL_ACCESS: Tactic = Tactic { id: "TA0001", name: "Initial Access" };
/// TA0002
pub const EXECUTION: Tactic = Tactic { id: "TA0002", name: "Execution" };
/// TA0003
pub const PERSISTENCE: Tactic = Tactic { id: "TA0003", name: "Persistence" };
/// TA0004
pub const PRIVILEGE_ESCALATION: Tactic = Tactic { id: "TA0004", name: "Privilege Escalation" };
/// TA0005
pub const DEFENSE_EVASION: Tactic = Tactic { id: "TA0005", name: "Defense Evasion" };
/// TA0006
pub const CREDENTIAL_ACCESS: Tactic = Tactic { id: "TA0006", name: "Credential Access" };
/// TA0007
pub const DISCOVERY: Tactic = Tactic { id: "TA0007", name: "Discovery" };
/// TA0008
pub const LATERAL_MOVEMENT: Tactic = Tactic { id: "TA0008", name: "Lateral Movement" };
/// TA0010
pub const EXFILTRATION: Tactic = Tactic { id: "TA0010", name: "Exfiltration" };
/// TA0040
pub const IMPACT: Tactic = Tactic { id: "TA0040", name: "Impact" };

/// Every tactic above, in kill-chain order (used to order the stages of an attack chain).
pub const KILL_CHAIN: [Tactic; 10] = [
    INITIAL_ACCESS,
    EXECUTION,
    PERSISTENCE,
    PRIVILEGE_ESCALATION,
    DEFENSE_EVASION,
    CREDENTIAL_ACCESS,
    DISCOVERY,
    LATERAL_MOVEMENT,
    EXFILTRATION,
    IMPACT,
];

/// Looks a tactic up by id.
pub fn tactic(id: &str) -> Option<Tactic> {
    KILL_CHAIN.into_iter().find(|t| t.id == id)
}
