"""The core: the stage machine (`stages`, pure Python), the PocketFlow nodes and one flow per action
(`nodes`, `flows`), the runner that turns a session into a flow's shared store and back (`runner`),
and the session's jobs and vault (`jobs`, `continuity`). No Gradio here."""
