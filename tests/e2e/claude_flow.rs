//! claude-flow (`@claude-flow/cli`, "Ruflo") as a real, large backend: its 350+ tools
//! aggregated with the demo server's and paged through vecgate, and its offline memory tools
//! called through the gateway.
//!
//! `scripts/install-test-deps` caches claude-flow's 636 MB install; only when that install
//! failed does `scripts/test` set `VECGATE_SKIP_CLAUDE_FLOW` (with the reason), and then these
//! tests say so loudly instead of running.

use vecgate_tests::{ClaudeFlow, DriverRun, Gateway, GatewayConfig, Pool, Sdk, Target, paths};

/// Items per page the gateway is configured with, small enough to force many pages.
const PAGE: u64 = 50;

fn skipped() -> bool {
    match std::env::var("VECGATE_SKIP_CLAUDE_FLOW") {
        Ok(reason) => {
            eprintln!("SKIPPED (loudly): claude-flow tests: {reason}");
            println!("SKIPPED: claude-flow tests: {reason}");
            true
        }
        Err(_) => false,
    }
}

fn claude_flow_pool(cf: &ClaudeFlow) -> Pool {
    let home = cf.home().display().to_string();
    Pool::stdio("claude-flow", &cf.command(), 1)
        .cwd(cf.home())
        .env("HOME", &home)
        .with("init_timeout_ms", "60000")
        .with("request_timeout_ms", "60000")
}

fn tool_count(report: &vecgate_tests::Report) -> u64 {
    report.scenario("tools")["count"]
        .as_u64()
        .expect("a tool count")
}

#[test]
fn claude_flow_tools_are_aggregated_and_paginated_through_vecgate() {
    if skipped() {
        return;
    }
    // Direct counts first: what each backend lists on its own.
    let direct_cf = ClaudeFlow::new().unwrap();
    let direct = DriverRun::new(
        Sdk::TypeScript,
        Target::Stdio(direct_cf.command()),
        "claude-flow",
    )
    .scenarios(&["initialize", "tools"])
    .cwd(direct_cf.home())
    .env("HOME", &direct_cf.home().display().to_string())
    .run()
    .unwrap();
    direct.assert_ok();
    let demo_direct = DriverRun::new(
        Sdk::TypeScript,
        Target::Stdio(paths::demo_server_command().unwrap()),
        "demo",
    )
    .scenarios(&["initialize", "tools"])
    .run()
    .unwrap();
    demo_direct.assert_ok();
    let (cf_tools, demo_tools) = (tool_count(&direct), tool_count(&demo_direct));
    assert!(cf_tools >= 300, "claude-flow lists only {cf_tools} tools");

    let cf = ClaudeFlow::new().unwrap();
    let config = GatewayConfig::new(vec![
        claude_flow_pool(&cf),
        GatewayConfig::demo(1).unwrap().pools()[0].clone(),
    ])
    .with("list_page_size", &PAGE.to_string());
    let gateway = Gateway::serve(&config).unwrap();
    for sdk in Sdk::ALL {
        let report = DriverRun::new(sdk, Target::Url(gateway.url().to_owned()), "claude-flow")
            .run()
            .unwrap();
        report.assert_ok();
        println!("{}", report.summary());
        let through = tool_count(&report);
        let pages = report.scenario("tools")["pages"].as_u64().unwrap();
        println!(
            "{}: {through} tools in {pages} pages through vecgate (claude-flow {cf_tools} + demo {demo_tools} directly)",
            sdk.name()
        );
        assert_eq!(
            through,
            cf_tools + demo_tools,
            "every tool of both backends, exactly once"
        );
        assert!(
            pages >= through.div_ceil(PAGE),
            "{pages} pages hold {through} tools: some page has more than list_page_size = {PAGE}"
        );
    }
}

#[test]
fn claude_flow_through_vecgate_stdio() {
    if skipped() {
        return;
    }
    let cf = ClaudeFlow::new().unwrap();
    let config =
        vecgate_tests::ConfigFile::write(&GatewayConfig::new(vec![claude_flow_pool(&cf)])).unwrap();
    let target = Target::Stdio(vec![
        paths::vecgate().unwrap().display().to_string(),
        "stdio".to_owned(),
        "--config".to_owned(),
        config.path().display().to_string(),
    ]);
    let report = DriverRun::new(Sdk::Python, target, "claude-flow")
        .run()
        .unwrap();
    report.assert_ok();
    println!("{}", report.summary());
}
