//! What the console's chat screens read beyond the conversation use cases: a conversation
//! with its header (channel, language, state, who holds it, the names of the operators who
//! wrote in it), and the same again without an audit line for a screen's live refresh.
//!
//! Opening a chat is a read of its case and is audited once, through
//! [`App::read_chat`]; the screen then asks again every few seconds, and an audit line per
//! refresh would bury the log, so the refresh is [`App::follow_chat`], which checks the same
//! rules and writes nothing.

use std::collections::BTreeMap;

use crate::app::casework::require_staff;
use crate::app::conversations::ChatView;
use crate::app::{Actor, App, AppError};
use crate::domain::cases::CaseNumber;
use crate::domain::conversation::{Author, Channel};
use crate::domain::language::LanguageTag;

/// A conversation as its screen shows it.
#[derive(Debug, Clone)]
pub struct ChatScreen {
    /// The messages, and whether replies can still be sent.
    pub view: ChatView,
    /// Where the person writes from.
    pub channel: Channel,
    /// The script's language, once chosen.
    pub language: Option<LanguageTag>,
    /// The conversation's state ([`crate::domain::conversation::Position::state`]).
    pub state: &'static str,
    /// The name of every operator who holds it or wrote in it, by id.
    pub operators: BTreeMap<i64, String>,
    /// Free text can no longer reach the person (WhatsApp, 24 hours after they last wrote):
    /// only the approved template is offered.
    pub template_only: bool,
}

impl App {
    /// Conversation `case` for `actor`'s screen, audited as a read of the case.
    pub async fn open_chat(&self, actor: &Actor, case: CaseNumber) -> Result<ChatScreen, AppError> {
        let view = self.read_chat(actor, case).await?;
        self.chat_screen(view).await
    }

    /// Conversation `case` again, for the live refresh of a screen [`App::open_chat`]
    /// opened: the same rules, no audit line.
    pub async fn follow_chat(
        &self,
        actor: &Actor,
        case: CaseNumber,
    ) -> Result<ChatScreen, AppError> {
        require_staff(actor)?;
        self.in_reach(actor, case, "read").await?;
        let conversation =
            self.storage().conversation_of(case).await?.ok_or_else(|| no_chat(case))?;
        let messages = self.storage().chat_messages(case).await?;
        let summary = self.storage().chats().await?.into_iter().find(|c| c.case_number == case);
        let view = ChatView {
            case,
            summary,
            open: conversation.address_sealed.is_some(),
            operator_id: conversation.operator_id,
            messages,
        };
        self.chat_screen(view).await
    }

    async fn chat_screen(&self, view: ChatView) -> Result<ChatScreen, AppError> {
        let conversation =
            self.storage().conversation_of(view.case).await?.ok_or_else(|| no_chat(view.case))?;
        let mut ids: Vec<i64> = view
            .messages
            .iter()
            .filter_map(|message| match message.author {
                Author::Operator(id) => Some(id),
                Author::Person | Author::Bot => None,
            })
            .chain(view.operator_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut operators = BTreeMap::new();
        for id in ids {
            if let Some(person) = self.storage().person(id).await? {
                operators.insert(id, person.name.to_string());
            }
        }
        let template_only = view.open && self.template_only(view.case).await?;
        Ok(ChatScreen {
            template_only,
            channel: conversation.channel,
            language: conversation.position.language().cloned(),
            state: conversation.position.state(),
            operators,
            view,
        })
    }
}

fn no_chat(case: CaseNumber) -> AppError {
    AppError::NotFound(format!("case {case} has no conversation"))
}
