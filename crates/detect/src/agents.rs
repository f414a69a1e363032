//! What a user agent says about the caller: the machine that made a call ([`desktop_os`], for
//! rules that compare a workload's own calls with calls made elsewhere with its credentials),
//! the tool family (`agent_family`; the Lambda runtime; both derived once per batch in `derived`), and
//! infrastructure-as-code tools run by a CI/CD identity (`iac_agent`).

use trailhound_model::{IdentityClass, Origin};

use crate::view::EventView;

/// The desktop operating system a user agent names (`macos`, `windows`), if any: an AWS CLI
/// or SDK on a laptop says `os/macos#…`, `Darwin/…`, `os/windows#…` or `Windows NT`, where a
/// workload's agent names Linux or nothing. `None` for anything else.
pub fn desktop_os(ua: Option<&str>) -> Option<&'static str> {
    const MAC: [&str; 4] = ["os/macos", "darwin/", "macintosh", "md/goos#darwin"];
    const WIN: [&str; 5] = ["os/windows", "windows nt", "windows/", "win32", "win64"];
    // Lower-cased once (this runs for most workload calls), on the stack when it fits.
    let ua = ua?.as_bytes();
    let mut buf = [0u8; 512];
    let heap;
    let lower: &[u8] = if ua.len() <= buf.len() {
        let b = &mut buf[..ua.len()];
        b.copy_from_slice(ua);
        b.make_ascii_lowercase();
        b
    } else {
        heap = ua.to_ascii_lowercase();
        &heap
    };
    let has = |f: &str| memchr::memmem::find(lower, f.as_bytes()).is_some();
    if MAC.iter().any(|f| has(f)) {
        Some("macos")
    } else if WIN.iter().any(|f| has(f)) {
        Some("windows")
    } else {
        None
    }
}

/// True when the user agent names the Lambda runtime.
pub(crate) fn is_lambda_agent(ua: Option<&str>) -> bool {
    ua.is_some_and(|u| EventView::contains_ignore_case(u, "exec-env/aws_lambda"))
}

/// The family of a user agent: its first product token, lower-cased (`aws-cli`, `boto3`,
/// `aws-sdk-go-v2`, `terraform`), `console/browser` for the console and browsers,
/// `aws-service` for AWS services, `none` when absent. A Lambda or ECS runtime adds
/// ` (lambda)` / ` (ecs)`: the same SDK outside the runtime is another family.
pub(crate) fn agent_family(ua: Option<&str>) -> String {
    let ua = ua.unwrap_or("").trim();
    if ua.is_empty() {
        return "none".to_string();
    }
    if ua.starts_with("Mozilla/")
        || ua.contains("console.amazonaws.com")
        || ua.contains("signin.amazonaws.com")
        || ua.starts_with("S3Console")
    {
        return "console/browser".to_string();
    }
    if ua == "AWS Internal" || ua.ends_with(".amazonaws.com") {
        return "aws-service".to_string();
    }
    let skip = |t: &&str| t.starts_with("APN/") || t.starts_with("HashiCorp/");
    let token =
        ua.split(|c: char| c.is_whitespace() || c == '[' || c == ']').filter(|t| !t.is_empty()).find(|t| !skip(t));
    let product = token.and_then(|t| t.split(['/', '_', '#', '(', ')', ',', ';']).next()).unwrap_or("");
    let mut family: String = product.chars().take(40).collect::<String>().to_ascii_lowercase();
    if family.is_empty() {
        family.push_str("other");
    }
    if is_lambda_agent(Some(ua)) {
        family.push_str(" (lambda)");
    } else if EventView::contains_ignore_case(ua, "exec-env/aws_ecs") {
        family.push_str(" (ecs)");
    }
    family
}

/// Default user-agent fragments of infrastructure-as-code tools (as in `enumeration_burst`).
pub(crate) fn default_iac_user_agents() -> Vec<String> {
    ["terraform/", "pulumi", "aws-cdk", "cloudformation", "crossplane", "ansible"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The IaC tool named by `ua`, in the user agent's own spelling (`Terraform`), if one of the
/// lower-cased `fragments` occurs in it.
pub(crate) fn agent_name(ua: &str, fragments: &[String]) -> Option<String> {
    let lower = ua.to_ascii_lowercase();
    fragments.iter().filter(|f| !f.is_empty()).find_map(|f| {
        let i = lower.find(f.as_str())?;
        let name = ua.get(i..i + f.len()).unwrap_or(f).trim_matches(|c: char| !c.is_alphanumeric());
        Some(if name.is_empty() { f.clone() } else { name.to_string() })
    })
}

/// The IaC agent of a call made by a CI/CD identity with an IaC tool's user agent.
pub(crate) fn iac_agent(ev: &EventView<'_>, row: usize, fragments: &[String]) -> Option<String> {
    if ev.origin(row) == Origin::Iac && ev.invoked_by(row) == Some("cloudformation.amazonaws.com") {
        return Some("CloudFormation".to_string());
    }
    if ev.identity_class(row) != IdentityClass::CiCd && ev.origin(row) != Origin::Iac {
        return None;
    }
    agent_name(ev.user_agent(row)?, fragments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::lowercase_all;

    #[test]
    fn laptops_name_their_os_and_workloads_do_not() {
        let cli = "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8";
        assert_eq!(desktop_os(Some(cli)), Some("macos"));
        assert_eq!(
            desktop_os(Some("Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/windows#10 md/arch#amd64")),
            Some("windows")
        );
        assert_eq!(desktop_os(Some("aws-cli/1.15.42 Python/3.6.1 Darwin/17.7.0 botocore/1.10.42")), Some("macos"));
        let ssm = "aws-sdk-go/1.55.5 (go1.22.7; linux; amd64) amazon-ssm-agent/3.3.987.0";
        assert_eq!(desktop_os(Some(ssm)), None);
        assert_eq!(desktop_os(Some("Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1.0-amzn2023")), None);
        assert_eq!(desktop_os(None), None);
    }

    #[test]
    fn agent_families_are_normalised() {
        assert_eq!(agent_family(Some("aws-cli/2.15.0 Python/3.11.6 Linux/6.1")), "aws-cli");
        assert_eq!(agent_family(Some("Boto3/1.34.0 md/Botocore#1.34.0")), "boto3");
        assert_eq!(agent_family(Some("aws-sdk-go-v2/1.24.0 os/linux")), "aws-sdk-go-v2");
        assert_eq!(
            agent_family(Some("APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io)")),
            "terraform"
        );
        assert_eq!(agent_family(Some("Mozilla/5.0 (Macintosh)")), "console/browser");
        assert_eq!(agent_family(Some("[aws-cli/2.15.0 Python/3.11]")), "aws-cli");
        assert_eq!(agent_family(Some("stratus-red-team_c763d13b-d099")), "stratus-red-team");
        assert_eq!(
            agent_family(Some("Boto3/1.26.90 md/Botocore#1.29.90 exec-env/AWS_Lambda_python3.9")),
            "boto3 (lambda)"
        );
        assert_eq!(agent_family(Some("cloudformation.amazonaws.com")), "aws-service");
        assert_eq!(agent_family(None), "none");
    }

    #[test]
    fn iac_tools_are_named_in_the_user_agents_spelling() {
        const TF_UA: &str =
            "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0";
        assert_eq!(agent_name(TF_UA, &lowercase_all(&default_iac_user_agents())).as_deref(), Some("Terraform"));
        assert_eq!(agent_name("aws-cli/2.15.0", &lowercase_all(&default_iac_user_agents())), None);
    }
}
