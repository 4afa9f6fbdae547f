//! The client drivers straight against real MCP servers, without vecgate.
//!
//! These prove the drivers and their plans are sound: a scenario that fails here is a driver or
//! backend problem, while one that passes here and fails through vecgate is a gateway problem.

use vecgate_tests::{DriverRun, HttpBackend, Sdk, Target, paths};

fn everything_stdio() -> Target {
    let script = paths::server_everything().expect("server-everything is installed");
    Target::Stdio(vec![
        paths::node(),
        script.display().to_string(),
        "stdio".to_owned(),
    ])
}

#[test]
fn typescript_driver_against_server_everything_stdio() {
    let report = DriverRun::new(Sdk::TypeScript, everything_stdio(), "everything")
        .run()
        .unwrap();
    report.assert_ok();
    println!("{}", report.summary());
    assert!(report.scenario("tools")["count"].as_u64().unwrap() >= 12);
}

#[test]
fn python_driver_against_server_everything_stdio() {
    let report = DriverRun::new(Sdk::Python, everything_stdio(), "everything")
        .run()
        .unwrap();
    report.assert_ok();
    println!("{}", report.summary());
}

#[test]
fn both_drivers_against_server_everything_streamable_http() {
    let backend = HttpBackend::everything().unwrap();
    for sdk in Sdk::ALL {
        let report = DriverRun::new(sdk, Target::Url(backend.url().to_owned()), "everything")
            .run()
            .unwrap();
        report.assert_ok();
        println!("{}", report.summary());
        assert_eq!(
            report.scenario("initialize")["protocolVersion"],
            "2025-11-25"
        );
    }
}

#[test]
fn both_drivers_against_the_demo_server_stdio() {
    let command = paths::demo_server_command().unwrap();
    for sdk in Sdk::ALL {
        let report = DriverRun::new(sdk, Target::Stdio(command.clone()), "demo")
            .run()
            .unwrap();
        report.assert_ok();
        println!("{}", report.summary());
    }
}

#[test]
fn both_drivers_against_the_demo_server_streamable_http() {
    let backend = HttpBackend::demo().unwrap();
    for sdk in Sdk::ALL {
        let report = DriverRun::new(sdk, Target::Url(backend.url().to_owned()), "demo")
            .run()
            .unwrap();
        report.assert_ok();
        println!("{}", report.summary());
    }
}

#[test]
fn a_failing_scenario_fails_the_driver() {
    // The drivers must be able to fail: a plan that asks for a tool the server lacks.
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("impossible.json");
    std::fs::write(
        &plan,
        r#"{"calls":[{"tool":"no-such-tool-anywhere","arguments":{}}]}"#,
    )
    .unwrap();
    for sdk in Sdk::ALL {
        let run = DriverRun::new(sdk, everything_stdio(), "everything").plan_path(&plan);
        let report = run.run().unwrap();
        assert!(!report.ok(), "{sdk:?} driver passed an impossible plan");
        assert!(
            report
                .failures()
                .iter()
                .any(|f| f.contains("no-such-tool-anywhere")),
            "{:?}",
            report.failures()
        );
    }
}
