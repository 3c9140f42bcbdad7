"""Every component id of the app, in one place (tests and callbacks import them from here)."""

# page frame
URL = "url"
SESSION = "session-id"  # per-browser-tab id, kept in sessionStorage: who owns which upload
DATASET = "dataset-id"  # the id of the dataset the views show (demo or an upload)
TABS = "view-tabs"
HEADER_FACTS = "header-facts"
ALERT = "page-alert"

# filters
SEGMENT_FILTER = "segment-filter"
# the slider slots are pattern-matching ids: {"type": RANGE_SLIDER, "slot": i} (also RANGE_LABEL, RANGE_WRAP)
RANGE_SLIDER = "range-slider"
RANGE_LABEL = "range-label"
RANGE_WRAP = "range-slider-wrap"
CUSTOMER_SEARCH = "customer-search"
RESET_FILTERS = "reset-filters"
LOG_AXES = "log-axes"
SELECTION_NOTE = "selection-note"
CLEAR_SELECTION = "clear-selection"
FILTER_COUNT = "filter-count"

# overview panels
KPI_ROW = "kpi-row"
KPI_CUSTOMERS = "kpi-customers"
KPI_TOTAL_AMOUNT = "kpi-total-amount"
KPI_AVG_AMOUNT = "kpi-avg-amount"
KPI_REPAYMENT_DAYS = "kpi-repayment-days"
KPI_LATE_SHARE = "kpi-late-share"
SCATTER = "scatter-amount-frequency"
BOX_REPAYMENT = "box-repayment"
TERNARY = "ternary-rfm"
ACTION_PANEL = "action-panel"
TABLE = "segment-table"
TABLE_NOTE = "segment-table-note"

# exports
EXPORT_CSV = "export-csv"
EXPORT_XLSX = "export-xlsx"
EXPORT_HYPER = "export-hyper"
DOWNLOAD = "download"

# model view
K_CHOOSER = "k-chooser"
K_CRITERIA = "k-criteria"
PCA_PLOT = "pca-projection"
DESCRIBE_TABLE = "describe-segments"
MODEL_FACTS = "model-facts"

# your-data view
UPLOAD = "upload"
UPLOAD_PREVIEW = "upload-preview"
UPLOAD_ID_COLUMN = "upload-id-column"
UPLOAD_FEATURES = "upload-features"
UPLOAD_FIT = "upload-fit"
UPLOAD_PROGRESS = "upload-progress"
UPLOAD_FIT_STATUS = "upload-fit-status"  # what the upload's fit waits for ("waiting for 1 other fit")
UPLOAD_STATUS = "upload-status"
UPLOAD_SIZE_NOTE = "upload-size-note"  # written in the browser (assets/upload_size.js)
UPLOAD_READ = "upload-read"  # how the file is read: {"type": UPLOAD_READ, "option": a LoadOptions field}
UPLOAD_FILE = "upload-file"  # store: the uploaded file's server-side token and detected facts
USE_DEMO = "use-demo"

# score view (one customer)
SCORE_CUSTOMER_ID = "score-customer-id"  # a text input: a customer id of the data
SCORE_LOOKUP_NOTE = "score-lookup-note"
SCORE_FORM = "score-form"  # holds one input per model feature: {"type": SCORE_INPUT, "feature": name}
SCORE_INPUT = "score-input"
SCORE_RESULT = "score-result"  # the segment's name, summary and action
SCORE_EXPLAIN = "score-explain"  # what would move this customer
SCORE_DISTANCES = "score-distances"

# movement view (segments over scorings)
MOVEMENT_SOURCE = "movement-source"
MOVEMENT_BEFORE = "movement-before"
MOVEMENT_AFTER = "movement-after"
MOVEMENT_FROM = "movement-from"
MOVEMENT_TO = "movement-to"
MOVEMENT_SIZES = "movement-sizes"
MOVEMENT_SANKEY = "movement-sankey"
MOVEMENT_MOVERS = "movement-movers"
MOVEMENT_NOTE = "movement-note"
MOVEMENT_EXPORT_CSV = "movement-export-csv"
MOVEMENT_EXPORT_XLSX = "movement-export-xlsx"

# upload mapping
UPLOAD_ROLES = "upload-roles"  # the role picker: one dropdown per role, {"type": UPLOAD_ROLE, "role": name}
UPLOAD_ROLE = "upload-role"
UPLOAD_SHAPE = "upload-shape"

# server-state handles (ids only, never data)
READY = "ready"  # {"dataset": id, "k": k} once that model is fitted and loaded
SELECTION = "selection"  # the scatter's box or lasso, normalised
TABLE_VERSION = "table-version"  # bumped when the filters change, so the grid reloads its rows
FIT_PROGRESS = "fit-progress"
FIT_STATUS = "fit-status"  # what the fit is doing or waiting for ("waiting for 1 other fit")
