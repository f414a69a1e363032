//! Small text helpers the rules share for configuration and context lines.

/// Lower-cased copies of configured fragments (for [`EventView::contains_ignore_case`](crate::view::EventView::contains_ignore_case)).
pub(crate) fn lowercase_all(v: &[String]) -> Vec<String> {
    v.iter().map(|s| s.to_ascii_lowercase()).collect()
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
}
