//! What a user agent says about the machine that made a call, for rules that compare a
//! workload's own calls with calls made elsewhere with its credentials.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
