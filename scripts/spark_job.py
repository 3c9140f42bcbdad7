"""The `segmentation` command as a file for spark-submit, which runs a .py file:

    spark-submit --master yarn --driver-memory 8g scripts/spark_job.py run --spark PATH --out DIR

The job uses spark-submit's session (master, memory, the cluster's filesystems); the segmentation
package must be installed where the driver runs.
"""

import sys

from segmentation.cli import main

sys.exit(main())
