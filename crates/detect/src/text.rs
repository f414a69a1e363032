//! Small text helpers the rules share for configuration and context lines.

/// Lower-cased copies of configured fragments (for [`EventView::contains_ignore_case`](crate::view::EventView::contains_ignore_case)).
pub(crate) fn lowercase_all(v: &[String]) -> Vec<String> {
    v.iter().map(|s| s.to_ascii_lowercase()).collect()
}

/// Configured fragments found anywhere in a string, ignoring ASCII case, in one pass over it
/// (an Aho-Corasick automaton built once): IaC user agents, scanner role names. Same answers
/// as testing each fragment with [`EventView::contains_ignore_case`](crate::view::EventView::contains_ignore_case),
/// without lower-casing the string and building a searcher per fragment and call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fragments {
    /// The fragments, lower-cased, in configured order.
    list: Vec<String>,
    automaton: Option<aho_corasick::AhoCorasick>,
}

impl Fragments {
    /// The fragments of `v`.
    pub(crate) fn new(v: &[String]) -> Self {
        let list = lowercase_all(v);
        // Standard semantics (every overlapping match) so that `first` can answer by
        // configured order; fails only on absurd sizes, then matching falls back to a scan.
        let automaton = aho_corasick::AhoCorasick::builder().ascii_case_insensitive(true).build(&list).ok();
        Self { list, automaton }
    }

    /// True when none are configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// True when any fragment occurs in `s`.
    pub(crate) fn matches(&self, s: &str) -> bool {
        match &self.automaton {
            Some(a) => a.is_match(s),
            None => self.list.iter().any(|f| crate::view::EventView::contains_ignore_case(s, f)),
        }
    }

    /// The first fragment, in configured order, that occurs in `s`.
    pub(crate) fn first(&self, s: &str) -> Option<&str> {
        let i = match &self.automaton {
            Some(a) => a.find_overlapping_iter(s).map(|m| m.pattern().as_usize()).min(),
            None => self.list.iter().position(|f| crate::view::EventView::contains_ignore_case(s, f)),
        };
        i.and_then(|i| self.list.get(i)).map(String::as_str)
    }
}

/// `a, b, c (+2 more)`, or `none`.
pub(crate) fn list<'a>(items: impl Iterator<Item = &'a str>, max: usize) -> String {
    let all: Vec<&str> = items.collect();
    if all.is_empty() {
        return "none".to_string();
    }
    let mut s = all.iter().take(max).copied().collect::<Vec<_>>().join(", ");
    if all.len() > max {
        s.push_str(&format!(" (+{} more)", all.len() - max));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_cut_after_max_items() {
        assert_eq!(list(["a", "b", "c"].into_iter(), 2), "a, b (+1 more)");
        assert_eq!(list(std::iter::empty(), 2), "none");
        assert_eq!(lowercase_all(&["Terraform/".to_string()]), ["terraform/"]);
    }

    #[test]
    fn fragments_answer_as_a_case_insensitive_search_for_each_in_configured_order() {
        let f = Fragments::new(&["Prowler".to_string(), "scan".to_string(), "wiz".to_string()]);
        assert!(f.matches("role/WizScanner"));
        assert_eq!(f.first("role/WizScanner"), Some("scan"), "configured order, not position");
        assert_eq!(f.first("assumed-role/PROWLER-ro/x"), Some("prowler"));
        assert_eq!(f.first("role/admin"), None);
        assert!(!f.matches(""));
        let none = Fragments::new(&[]);
        assert!(none.is_empty() && !none.matches("anything") && none.first("x").is_none());
        for hay in ["Terraform/1.9 exec", "TERRAFORM", "terraforM/", "pulumi", "x"] {
            let frags = ["terraform/".to_string(), "pulumi".to_string()];
            let each = frags.iter().any(|n| crate::view::EventView::contains_ignore_case(hay, n));
            assert_eq!(Fragments::new(&frags).matches(hay), each, "{hay}");
        }
    }
}
