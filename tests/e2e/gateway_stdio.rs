//! Real MCP clients through `vecgate stdio`: the gateway launched by the client as its MCP
//! server command (how Claude Desktop and many IDEs start servers), with the same pools as
//! the HTTP tests.

use vecgate_tests::{ConfigFile, DriverRun, GatewayConfig, Sdk, Target, paths};

fn vecgate_stdio(config: &ConfigFile) -> Target {
    Target::Stdio(vec![
        paths::vecgate().unwrap().display().to_string(),
        "stdio".to_owned(),
        "--config".to_owned(),
        config.path().display().to_string(),
    ])
}

#[test]
fn demo_server_pool_through_vecgate_stdio() {
    // Pinned: the subscription scenario depends on per-replica state (see gateway_http.rs).
    let pool = GatewayConfig::demo(2).unwrap().pools()[0]
        .clone()
        .with("affinity", "true");
    let config = ConfigFile::write(&GatewayConfig::new(vec![pool])).unwrap();
    for sdk in Sdk::ALL {
        let report = DriverRun::new(sdk, vecgate_stdio(&config), "demo")
            .run()
            .unwrap();
        report.assert_ok();
        println!("{}", report.summary());
    }
}

#[test]
fn server_everything_pool_through_vecgate_stdio() {
    let pool = GatewayConfig::everything_stdio(1).unwrap().pools()[0]
        .clone()
        .with("affinity", "true");
    let config = ConfigFile::write(&GatewayConfig::new(vec![pool])).unwrap();
    for sdk in Sdk::ALL {
        let report = DriverRun::new(sdk, vecgate_stdio(&config), "everything")
            .run()
            .unwrap();
        report.assert_ok();
        println!("{}", report.summary());
    }
}

#[test]
fn vecgate_stdio_without_config_fronts_the_embedded_demo() {
    let target = Target::Stdio(vec![
        paths::vecgate().unwrap().display().to_string(),
        "stdio".to_owned(),
    ]);
    let report = DriverRun::new(Sdk::TypeScript, target, "demo")
        .scenarios(&["initialize", "tools", "calls", "ping"])
        .run()
        .unwrap();
    report.assert_ok();
    println!("{}", report.summary());
}
