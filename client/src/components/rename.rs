//! The "your name" form, used on the landing page and in a room.

use twain_protocol::MAX_NAME_CHARS;
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::app::AppContext;

#[derive(Properties, PartialEq)]
pub struct RenameProps {
    /// Called with the new name after it is saved.
    #[prop_or_default]
    pub on_renamed: Callback<String>,
    /// Unique id prefix, so two forms on one page keep distinct label targets.
    pub id: AttrValue,
}

#[function_component(RenameForm)]
pub fn rename_form(props: &RenameProps) -> Html {
    let ctx = use_context::<AppContext>().expect("app context");
    let draft = use_state(|| ctx.identity.name.clone());
    let error = use_state(|| None::<String>);
    let saved = use_state(|| false);
    let input_id = format!("{}-name", props.id);

    let oninput = {
        let draft = draft.clone();
        let saved = saved.clone();
        Callback::from(move |e: InputEvent| {
            draft.set(e.target_unchecked_into::<HtmlInputElement>().value());
            saved.set(false);
        })
    };
    let onsubmit = {
        let draft = draft.clone();
        let error = error.clone();
        let saved = saved.clone();
        let ctx = ctx.clone();
        let on_renamed = props.on_renamed.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let name = (*draft).clone();
            let error = error.clone();
            let saved = saved.clone();
            let ctx = ctx.clone();
            let on_renamed = on_renamed.clone();
            spawn_local(async move {
                match ctx.storage.rename(&name).await {
                    Ok(identity) => {
                        error.set(None);
                        saved.set(true);
                        on_renamed.emit(identity.name.clone());
                        ctx.set_identity.emit(identity);
                    }
                    Err(e) => error.set(Some(e.to_string())),
                }
            });
        })
    };
    let error_id = format!("{}-error", props.id);
    html! {
        <form class="rename" {onsubmit}>
            <label for={input_id.clone()}>{ "Your name" }</label>
            <div class="row">
                <input id={input_id} type="text" value={(*draft).clone()} {oninput}
                    maxlength={(MAX_NAME_CHARS * 2).to_string()} autocomplete="nickname"
                    aria-invalid={error.is_some().to_string()}
                    aria-describedby={error.is_some().then(|| error_id.clone())} />
                <button type="submit">{ "Save name" }</button>
            </div>
            if let Some(msg) = &*error {
                <p class="field-error" id={error_id} role="alert">{ msg }</p>
            }
            if *saved {
                <p class="field-ok" role="status">{ "Saved. The other person sees your new name." }</p>
            }
        </form>
    }
}
