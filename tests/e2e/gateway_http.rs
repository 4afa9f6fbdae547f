//! Real MCP clients (the official TypeScript and Python SDKs) through `vecgate serve` over
//! Streamable HTTP, in front of real backends: the bundled demo server (stdio pool),
//! server-everything as a stdio pool and as a Streamable HTTP pool.
//!
//! Every scenario here also passes directly against the same backend (`drivers_direct`), so a
//! failure is the gateway's.

use vecgate_tests::{DriverRun, Gateway, GatewayConfig, HttpBackend, Pool, Sdk, Target};

fn through(gateway: &Gateway, plan: &str) {
    for sdk in Sdk::ALL {
        let report = DriverRun::new(sdk, Target::Url(gateway.url().to_owned()), plan)
            .run()
            .unwrap();
        report.assert_ok();
        println!("{}", report.summary());
    }
}

#[test]
fn demo_server_pool_of_three_stdio_replicas_with_affinity() {
    // Tickets and subscriptions are per-replica state of the demo server: the subscription
    // scenario (subscribe, then create a ticket, then expect the update) needs the session
    // pinned to one replica.
    let pool = GatewayConfig::demo(3).unwrap().pools()[0]
        .clone()
        .with("affinity", "true");
    let gateway = Gateway::serve(&GatewayConfig::new(vec![pool])).unwrap();
    through(&gateway, "demo");
}

#[test]
fn demo_server_pool_of_three_stdio_replicas_routed_freely() {
    // Without affinity every request may go to another replica: every scenario that does not
    // depend on per-replica state must still pass.
    let gateway = Gateway::serve(&GatewayConfig::demo(3).unwrap()).unwrap();
    for sdk in Sdk::ALL {
        let report = DriverRun::new(sdk, Target::Url(gateway.url().to_owned()), "demo")
            .scenarios(&[
                "initialize",
                "tools",
                "calls",
                "progress",
                "resources",
                "prompts",
                "completion",
                "sampling",
                "elicitation",
                "ping",
                "cancel",
            ])
            .run()
            .unwrap();
        report.assert_ok();
        println!("{}", report.summary());
    }
}

#[test]
fn server_everything_as_a_stdio_pool_with_affinity() {
    // server-everything keeps per-session state (subscriptions, logging toggles), so its pool
    // pins each client session to one replica.
    let config = GatewayConfig::new(vec![
        GatewayConfig::everything_stdio(2).unwrap().pools()[0]
            .clone()
            .with("affinity", "true"),
    ]);
    let gateway = Gateway::serve(&config).unwrap();
    through(&gateway, "everything");
}

#[test]
fn server_everything_as_a_streamable_http_pool() {
    let backend = HttpBackend::everything().unwrap();
    let config = GatewayConfig::new(vec![Pool::http("everything", &[backend.url().to_owned()])]);
    let gateway = Gateway::serve(&config).unwrap();
    through(&gateway, "everything");
}

#[test]
fn demo_server_as_a_streamable_http_pool() {
    let backend = HttpBackend::demo().unwrap();
    let config = GatewayConfig::new(vec![Pool::http("demo", &[backend.url().to_owned()])]);
    let gateway = Gateway::serve(&config).unwrap();
    through(&gateway, "demo");
}

#[test]
fn two_pools_are_aggregated_into_one_tool_list() {
    let demo = GatewayConfig::demo(1).unwrap().pools()[0].clone();
    let everything = GatewayConfig::everything_stdio(1).unwrap().pools()[0]
        .clone()
        .with("affinity", "true");
    let gateway = Gateway::serve(&GatewayConfig::new(vec![demo, everything])).unwrap();
    // Both servers have `echo` (with different arguments): vecgate must expose each under its
    // pool's prefix and route each call to its own pool.
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("two-pools.json");
    std::fs::write(
        &plan,
        serde_json::json!({
            "tools": {"must_include": ["demo__echo", "everything__echo", "get-sum", "search_code"]},
            "calls": [
                {"tool": "demo__echo", "arguments": {"text": "to the demo pool"}, "expect_text": "to the demo pool"},
                {"tool": "everything__echo", "arguments": {"message": "to the everything pool"}, "expect_text": "Echo: to the everything pool"},
                {"tool": "get-sum", "arguments": {"a": 1, "b": 2}, "expect_text": "3"}
            ]
        })
        .to_string(),
    )
    .unwrap();
    for sdk in Sdk::ALL {
        let report = DriverRun::new(sdk, Target::Url(gateway.url().to_owned()), "demo")
            .plan_path(&plan)
            .run()
            .unwrap();
        report.assert_ok();
        println!("{}", report.summary());
        let count = report.scenario("tools")["count"].as_u64().unwrap();
        assert!(count >= 25, "{count} tools from two pools");
    }
}
