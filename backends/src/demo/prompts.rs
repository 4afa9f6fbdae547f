//! Prompts (with and without arguments, with an embedded resource and with an image) and
//! `completion/complete` for prompt arguments and resource-template variables.

use rmcp::{
    ErrorData,
    model::{
        CompleteRequestParams, CompleteResult, CompletionInfo, ContentBlock, GetPromptResult,
        ImageContent, JsonObject, Prompt, PromptArgument, PromptMessage, Reference,
        ResourceContents, Role,
    },
};

use super::{
    fixtures::{PATHS, PNG_1X1_BASE64, REPOS, file_excerpt},
    state::Replica,
};

/// Every prompt, in `prompts/list` order.
pub(crate) fn list() -> Vec<Prompt> {
    let arg = |name: &str, description: &str, required: bool| {
        PromptArgument::new(name)
            .with_description(description)
            .with_required(required)
    };
    vec![
        Prompt::new(
            "daily_standup",
            Some("Write a stand-up update from the open tickets"),
            None::<Vec<_>>,
        ),
        Prompt::new(
            "code_review",
            Some("Review a file of a demo repository (embeds the file as a resource)"),
            Some(vec![
                arg("repo", "Repository name", true),
                arg("path", "File path (default src/lib.rs)", false),
            ]),
        ),
        Prompt::new(
            "describe_logo",
            Some("Describe the demo logo (includes an image)"),
            None::<Vec<_>>,
        ),
        Prompt::new(
            "test_simple_prompt",
            Some("A simple prompt without arguments"),
            None::<Vec<_>>,
        ),
        Prompt::new(
            "test_prompt_with_arguments",
            Some("A prompt with required arguments"),
            Some(vec![
                arg("arg1", "First test argument", true),
                arg("arg2", "Second test argument", true),
            ]),
        ),
        Prompt::new(
            "test_prompt_with_embedded_resource",
            Some("A prompt that includes an embedded resource"),
            Some(vec![arg(
                "resourceUri",
                "URI of the resource to embed",
                true,
            )]),
        ),
        Prompt::new(
            "test_prompt_with_image",
            Some("A prompt that includes image content"),
            None::<Vec<_>>,
        ),
    ]
}

fn argument<'a>(args: &'a Option<JsonObject>, name: &str) -> Option<&'a str> {
    args.as_ref()?.get(name)?.as_str()
}

fn required<'a>(
    args: &'a Option<JsonObject>,
    prompt: &str,
    name: &str,
) -> Result<&'a str, ErrorData> {
    argument(args, name).ok_or_else(|| {
        ErrorData::invalid_params(
            format!("prompt {prompt} needs the string argument {name}"),
            None,
        )
    })
}

fn user_text(text: impl Into<String>) -> PromptMessage {
    PromptMessage::new_text(Role::User, text)
}

fn image() -> PromptMessage {
    PromptMessage::new(
        Role::User,
        ContentBlock::Image(ImageContent::new(PNG_1X1_BASE64, "image/png")),
    )
}

fn embedded(uri: &str, text: String) -> PromptMessage {
    PromptMessage::new(
        Role::User,
        ContentBlock::resource(ResourceContents::text(text, uri)),
    )
}

/// Renders prompt `name`; unknown prompts and missing arguments are `invalid params`.
pub(crate) fn get(
    replica: &Replica,
    name: &str,
    args: &Option<JsonObject>,
) -> Result<GetPromptResult, ErrorData> {
    let messages = match name {
        "daily_standup" => {
            let tickets = replica.tickets();
            let list: Vec<String> = tickets
                .iter()
                .map(|t| format!("- #{} {}", t.id, t.title))
                .collect();
            vec![user_text(format!(
                "Write a short stand-up update. Open tickets ({}):\n{}",
                tickets.len(),
                list.join("\n")
            ))]
        }
        "code_review" => {
            let repo = required(args, name, "repo")?;
            let path = argument(args, "path").unwrap_or("src/lib.rs");
            vec![
                embedded(
                    &format!("demo://repo/{repo}/{path}"),
                    file_excerpt(repo, path),
                ),
                user_text(format!(
                    "Review {path} of {repo} above: correctness first, then style."
                )),
            ]
        }
        "describe_logo" => vec![image(), user_text("Describe this logo in one sentence.")],
        "test_simple_prompt" => vec![user_text("This is a simple prompt for testing.")],
        "test_prompt_with_arguments" => {
            let arg1 = required(args, name, "arg1")?;
            let arg2 = required(args, name, "arg2")?;
            vec![user_text(format!(
                "Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
            ))]
        }
        "test_prompt_with_embedded_resource" => {
            let uri = required(args, name, "resourceUri")?;
            vec![
                embedded(uri, "Embedded resource content for testing.".to_owned()),
                user_text("Please process the embedded resource above."),
            ]
        }
        "test_prompt_with_image" => vec![image(), user_text("Please analyze the image above.")],
        _ => {
            return Err(ErrorData::invalid_params(
                format!("no prompt named {name}"),
                None,
            ));
        }
    };
    let description = list()
        .into_iter()
        .find(|p| p.name == name)
        .and_then(|p| p.description);
    let result = GetPromptResult::new(messages);
    Ok(match description {
        Some(description) => result.with_description(description),
        None => result,
    })
}

/// Completion candidates for a prompt argument or a template variable, filtered by prefix.
pub(crate) fn complete(
    replica: &Replica,
    request: &CompleteRequestParams,
) -> Result<CompleteResult, ErrorData> {
    let argument = request.argument.name.as_str();
    let candidates: Vec<String> = match &request.r#ref {
        Reference::Prompt(prompt) => match (prompt.name.as_str(), argument) {
            ("code_review", "repo") => REPOS.iter().map(|r| r.to_string()).collect(),
            ("code_review", "path") => PATHS.iter().map(|p| p.to_string()).collect(),
            ("test_prompt_with_arguments", _) => ["paris", "park", "party", "test", "testing"]
                .map(String::from)
                .to_vec(),
            ("test_prompt_with_embedded_resource", "resourceUri") => {
                ["test://static-text", "demo://readme"]
                    .map(String::from)
                    .to_vec()
            }
            _ => Vec::new(),
        },
        Reference::Resource(template) => match (template.uri.as_str(), argument) {
            ("demo://repo/{name}", "name") => REPOS.iter().map(|r| r.to_string()).collect(),
            ("demo://kv/{key}", "key") => replica.kv_keys(),
            ("test://template/{id}/data", "id") => {
                ["1", "2", "3", "123"].map(String::from).to_vec()
            }
            _ => Vec::new(),
        },
        // Reference kinds added by later protocol versions have nothing to complete here.
        _ => Vec::new(),
    };
    let prefix = request.argument.value.as_str();
    let values: Vec<String> = candidates
        .into_iter()
        .filter(|candidate| candidate.starts_with(prefix))
        .take(CompletionInfo::MAX_VALUES)
        .collect();
    let info =
        CompletionInfo::with_all_values(values).map_err(|e| ErrorData::internal_error(e, None))?;
    Ok(CompleteResult::new(info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{latency::LatencyModel, options::DemoProfile};
    use rmcp::model::ArgumentInfo;

    fn replica() -> Replica {
        Replica::new(LatencyModel::new(0, DemoProfile::Instant, Vec::new()), None)
    }

    #[test]
    fn every_prompt_renders_with_its_required_arguments() {
        let replica = replica();
        for prompt in list() {
            let mut args = JsonObject::new();
            for arg in prompt.arguments.iter().flatten() {
                if arg.required == Some(true) {
                    args.insert(arg.name.clone(), "tokio".into());
                }
            }
            let result = get(&replica, &prompt.name, &Some(args)).unwrap();
            assert!(!result.messages.is_empty(), "{}", prompt.name);
            if prompt
                .arguments
                .iter()
                .flatten()
                .any(|a| a.required == Some(true))
            {
                assert!(
                    get(&replica, &prompt.name, &None).is_err(),
                    "{}",
                    prompt.name
                );
            }
        }
        assert!(get(&replica, "nope", &None).is_err());
    }

    #[test]
    fn completion_filters_by_prefix() {
        let replica = replica();
        replica.kv_put("alpha", "1");
        replica.kv_put("beta", "2");
        let ask = |r: Reference, name: &str, value: &str| {
            let request = CompleteRequestParams::new(r, ArgumentInfo::new(name, value));
            complete(&replica, &request).unwrap().completion.values
        };
        assert_eq!(
            ask(Reference::for_prompt("code_review"), "repo", "to"),
            vec!["tokio", "tower"]
        );
        assert_eq!(
            ask(
                Reference::for_prompt("test_prompt_with_arguments"),
                "arg1",
                "par"
            ),
            vec!["paris", "park", "party"]
        );
        assert_eq!(
            ask(Reference::for_resource("demo://kv/{key}"), "key", "b"),
            vec!["beta"]
        );
        assert!(ask(Reference::for_prompt("code_review"), "repo", "zzz").is_empty());
    }
}
